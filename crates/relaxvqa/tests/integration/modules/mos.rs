use super::*;
use relaxvqa::files::FeatureRows;
use relaxvqa::mos::{label, read_mos, MosTable};

fn table(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mos.csv");
    write(&path, text);
    (dir, path)
}

fn mos_of(t: &MosTable, name: &str) -> Option<f64> {
    t.get(name).map(|r| r.mos)
}

/// The default columns are `name` and `mos`; a row is found by its name
/// or by the file stem of the name asked for or listed.
#[test]
fn default_columns_and_lookup_by_name_or_stem() {
    let (_d, path) = table("name,mos\nA.mp4,3.2\nb,4\n");
    let t = read_mos(&path, None, None, None).unwrap();
    assert_eq!(mos_of(&t, "A.mp4"), Some(3.2));
    assert_eq!(mos_of(&t, "A"), Some(3.2), "the listed name's stem");
    assert_eq!(mos_of(&t, "b"), Some(4.0));
    assert_eq!(mos_of(&t, "clips/b.mkv"), Some(4.0), "the asked name's stem");
    assert_eq!(mos_of(&t, "c"), None);
    assert!(t.get("b").unwrap().group.is_none(), "no group column named");
}

/// Without named columns, the first present of the documented lists is
/// used, matched case-insensitively (name before video, mos before dmos).
#[test]
fn default_columns_follow_the_documented_order() {
    let (_d, path) = table("flickr_id,DMOS\n123,55.5\n");
    let t = read_mos(&path, None, None, None).unwrap();
    assert_eq!(mos_of(&t, "123"), Some(55.5));
    let (_d, path) = table("video,name,score,mos\nv1,n1,1,2\n");
    let t = read_mos(&path, None, None, None).unwrap();
    assert_eq!(mos_of(&t, "n1"), Some(2.0), "name before video, mos before score");
    assert_eq!(mos_of(&t, "v1"), None);
}

/// Named columns are used as given, and a group column is read per row.
#[test]
fn named_columns_and_groups() {
    let (_d, path) = table("clip,rating,content\nx.mp4, 2.5 ,park\ny.mp4,4,street\n");
    let t = read_mos(&path, Some("CLIP"), Some("rating"), Some("content")).unwrap();
    let x = t.get("x").unwrap();
    assert_eq!((x.mos, x.group.as_deref()), (2.5, Some("park")));
    assert_eq!(t.get("y.mp4").unwrap().group.as_deref(), Some("street"));
}

/// A missing column is an input error naming the file, the column and
/// the columns there are.
#[test]
fn missing_columns_are_named() {
    let (_d, path) = table("title,rating\na,3\n");
    let (msg, kind) = err(read_mos(&path, None, None, None));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("mos.csv") && msg.contains("no name column") && msg.contains("title, rating"), "{msg}");
    let (msg, _) = err(read_mos(&path, Some("title"), None, None));
    assert!(msg.contains("no MOS column"), "{msg}");
    let (msg, _) = err(read_mos(&path, Some("title"), Some("rating"), Some("content")));
    assert!(msg.contains("no column named content") && msg.contains("title, rating"), "{msg}");
}

/// A MOS that is not a finite number, or an empty name, is an error
/// naming its row (the header is row 1).
#[test]
fn bad_rows_are_named_by_line() {
    for bad in ["x", "NaN", "inf", ""] {
        let (_d, path) = table(&format!("name,mos\na,1\nb,{bad}\n"));
        let (msg, kind) = err(read_mos(&path, None, None, None));
        assert_eq!(kind, ErrorKind::Input);
        assert!(msg.contains("row 3") && msg.contains("is not a number"), "{bad}: {msg}");
    }
    let (_d, path) = table("name,mos\n ,1\n");
    let (msg, _) = err(read_mos(&path, None, None, None));
    assert!(msg.contains("row 2: empty name"), "{msg}");
}

/// A table without rows, a folder or a missing file is refused.
#[test]
fn empty_tables_folders_and_missing_files_are_refused() {
    let (d, path) = table("name,mos\n");
    let (msg, _) = err(read_mos(&path, None, None, None));
    assert!(msg.contains("no rows"), "{msg}");
    let (msg, kind) = err(read_mos(d.path(), None, None, None));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("found a folder"), "{msg}");
    let (msg, kind) = err(read_mos(&d.path().join("absent.csv"), None, None, None));
    assert_eq!(kind, ErrorKind::Io, "{msg}");
}

/// A row listed under exactly the name asked for wins over another row
/// whose stem is that name, whatever their order.
#[test]
fn exact_names_win_over_stems() {
    for text in ["name,mos\na.mp4,1\na,2\n", "name,mos\na,2\na.mp4,1\n"] {
        let (_d, path) = table(text);
        let t = read_mos(&path, None, None, None).unwrap();
        assert_eq!(mos_of(&t, "a"), Some(2.0), "{text:?}");
        assert_eq!(mos_of(&t, "a.mp4"), Some(1.0), "{text:?}");
    }
}

/// Feature rows are matched by name or stem, in feature order, with
/// their own values; rows without a MOS are listed as unmatched.
#[test]
fn label_joins_features_with_mos() {
    let (_d, path) = table("name,mos\na.mp4,3\nb,4\n");
    let t = read_mos(&path, None, None, None).unwrap();
    let features = FeatureRows {
        names: vec!["a".into(), "zz".into(), "b.mp4".into()],
        x: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        dim: 2,
    };
    let l = label(features, &t, Path::new("f.safetensors"), &path).unwrap();
    assert_eq!(l.names, ["a", "b.mp4"]);
    assert_eq!(l.x, [1.0, 2.0, 5.0, 6.0]);
    assert_eq!(l.dim, 2);
    assert_eq!(l.y, [3.0, 4.0]);
    assert_eq!(l.unmatched, ["zz"]);
    assert!(l.groups.is_none() && l.group_names.is_empty());
}

/// Group labels become indices in order of first appearance among the
/// matched feature rows.
#[test]
fn label_numbers_groups_by_first_appearance() {
    let (_d, path) = table("name,mos,content\na,1,x\nb,2,y\nc,3,x\n");
    let t = read_mos(&path, None, None, Some("content")).unwrap();
    let features = FeatureRows { names: vec!["c".into(), "a".into(), "b".into()], x: vec![0.0, 1.0, 2.0], dim: 1 };
    let l = label(features, &t, Path::new("f"), &path).unwrap();
    assert_eq!(l.y, [3.0, 1.0, 2.0]);
    assert_eq!(l.groups.as_deref(), Some(&[0, 0, 1][..]));
    assert_eq!(l.group_names, ["x", "y"]);
}

/// No feature row with a MOS is an error naming both files.
#[test]
fn label_without_any_match_is_an_error() {
    let (_d, path) = table("name,mos\na,1\n");
    let t = read_mos(&path, None, None, None).unwrap();
    let features = FeatureRows { names: vec!["q".into()], x: vec![0.5], dim: 1 };
    let (msg, kind) = err(label(features, &t, Path::new("feats.safetensors"), &path));
    assert_eq!(kind, ErrorKind::Input);
    assert!(msg.contains("feats.safetensors") && msg.contains("mos.csv"), "{msg}");
}
