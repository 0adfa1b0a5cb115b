//! The pipeline with stand-in networks: every exact-match item of the
//! foundation (frames, positions, fragments, counts) through `extract`, and
//! the bookkeeping of batches and means.

use relaxvqa_features::{extract_path, layout, Backbones, ExtractOptions, FeatureError, ResNetOutput, TensorData};
use relaxvqa_fixtures::{video, TensorFile, VIDEOS};
use relaxvqa_image::RgbImage;

/// Stand-in networks whose outputs are the image's mean byte, so that block
/// means can be checked by hand.
struct MeanNets;

fn mean(img: &RgbImage) -> f32 {
    img.as_bytes().iter().map(|&b| b as f64).sum::<f64>() as f32 / img.as_bytes().len() as f32
}

impl Backbones for MeanNets {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        Ok(images
            .iter()
            .map(|i| ResNetOutput {
                layer_stack: vec![mean(i); layout::LAYER_STACK_LEN],
                pool: vec![mean(i); layout::RESNET_POOL_LEN],
            })
            .collect())
    }
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        Ok(images.iter().map(|i| vec![-mean(i); layout::VIT_POOL_LEN]).collect())
    }
}

fn u8s(d: &TensorData) -> &[u8] {
    match d {
        TensorData::U8(v) => v,
        _ => panic!("not u8"),
    }
}

fn i64s(d: &TensorData) -> &[i64] {
    match d {
        TensorData::I64(v) => v,
        _ => panic!("not i64"),
    }
}

#[test]
fn exact_items_survive_the_pipeline() {
    for stem in VIDEOS {
        let reference = TensorFile::reference(stem);
        let opts = ExtractOptions { batch_size: 5, dump: true, per_sample: true, ..Default::default() };
        let out = extract_path(&video(stem), &MeanNets, &opts, &mut |_| {}).unwrap();
        let dump = out.tensors();
        for k in ["video.frame_interval", "video.sampled_frame_count", "video.pair_count"] {
            assert_eq!(i64s(&dump[k].data), reference.get(k).i64().as_slice(), "{stem} {k}");
        }
        let mut merged_same = Vec::new();
        for j in 0..reference.count("video.pair_count") {
            for k in ["frame_fragment", "next_rgb"] {
                let name = format!("pair.{j}.{k}");
                assert_eq!(u8s(&dump[&name].data), reference.get(&name).u8().as_slice(), "{stem} {name}");
            }
            let name = format!("pair.{j}.positions");
            assert_eq!(i64s(&dump[&name].data), reference.get(&name).i64().as_slice(), "{stem} {name}");
            let name = format!("pair.{j}.merged_fragment");
            let (a, b) = (u8s(&dump[&name].data), reference.get(&name).u8());
            let share = a.iter().zip(&b).filter(|(x, y)| x == y).count() as f64 / b.len() as f64;
            merged_same.push(share);
            assert!(share >= 0.995, "{stem} {name}: {share}");
        }
        for i in 0..reference.count("video.sampled_frame_count") {
            let name = format!("frame.{i}.rgb");
            assert_eq!(u8s(&dump[&name].data), reference.get(&name).u8().as_slice(), "{stem} {name}");
        }
        println!("{stem}: frames, next frames, positions, frame fragments identical; merged fragment identical shares {merged_same:?}");

        // Means: block 0 is the mean over frames of each ResNet input's mean byte.
        let frame_means: Vec<f64> = (0..out.sampled_frames)
            .map(|i| {
                mean(&RgbImage::from_vec(224, 224, reference.get(&format!("frame.{i}.resnet_input_rgb")).u8()).unwrap())
                    as f64
            })
            .collect();
        let want = frame_means.iter().sum::<f64>() / frame_means.len() as f64;
        let got = out.features[0];
        println!("{stem}: block 0 mean {got} (by hand {want})");
        assert!((got - want).abs() < 0.5, "{stem}: {got} vs {want} (resize may differ by a level)");
        let rows = out.per_sample.as_ref().unwrap();
        assert_eq!(rows.len(), out.sampled_frames);
    }
}

#[test]
fn batch_size_does_not_change_the_features() {
    let path = video("testsrc2_noise");
    let a =
        extract_path(&path, &MeanNets, &ExtractOptions { batch_size: 1, ..Default::default() }, &mut |_| {}).unwrap();
    let b =
        extract_path(&path, &MeanNets, &ExtractOptions { batch_size: 64, ..Default::default() }, &mut |_| {}).unwrap();
    assert_eq!(a.features.len(), layout::FEATURE_LEN);
    assert_eq!(a.features, b.features);
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let e =
        extract_path(std::path::Path::new("/nonexistent/clip.mp4"), &MeanNets, &ExtractOptions::default(), &mut |_| {})
            .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/clip.mp4"), "{e}");
}

/// Stand-in networks that also record the size of every batch they get.
#[derive(Default)]
struct RecordingNets {
    resnet_batches: std::sync::Mutex<Vec<usize>>,
}

impl Backbones for RecordingNets {
    fn resnet(&self, images: &[&RgbImage]) -> Result<Vec<ResNetOutput>, FeatureError> {
        self.resnet_batches.lock().unwrap().push(images.len());
        MeanNets.resnet(images)
    }
    fn vit(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>, FeatureError> {
        MeanNets.vit(images)
    }
}

#[test]
fn batches_cross_samples_and_each_output_reaches_its_own_sample() {
    // Two compute threads: batches are whole multiples of two images, taken
    // across sample boundaries (a sample with a pair has three images), the
    // first one image per thread; each sample's row must still hold the
    // outputs of its own images.
    let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let path = video("testsrc2_noise");
    let mut all_features = Vec::new();
    for batch_size in [1, 4, 5, 64] {
        let nets = RecordingNets::default();
        let opts = ExtractOptions { batch_size, dump: true, per_sample: true, ..Default::default() };
        let out = two.install(|| extract_path(&path, &nets, &opts, &mut |_| {})).unwrap();
        let sizes = nets.resnet_batches.lock().unwrap().clone();
        let images = out.sampled_frames + 2 * out.pairs;
        println!("batch size {batch_size}: ResNet batches {sizes:?} for {images} images");
        assert_eq!(sizes.iter().sum::<usize>(), images);
        let full = if batch_size < 2 { batch_size } else { batch_size.div_ceil(2) * 2 };
        assert_eq!(sizes[0], full.min(2), "first batch");
        for &s in &sizes[1..sizes.len() - 1] {
            assert_eq!(s, full, "a middle batch");
        }
        let dump = out.dump.as_ref().unwrap();
        let img = |name: &str| {
            let t = &dump[name];
            RgbImage::from_vec(t.shape[1], t.shape[0], u8s(&t.data).to_vec()).unwrap()
        };
        for (i, row) in out.per_sample.as_ref().unwrap().iter().enumerate() {
            let at = |block: usize| row.values[layout::BLOCKS[block].offset];
            assert_eq!(at(0), mean(&img(&format!("frame.{i}.resnet_input_rgb"))), "sample {i} block 0");
            assert_eq!(at(1), -mean(&img(&format!("frame.{i}.vit_input_rgb"))), "sample {i} block 1");
            if dump.contains_key(&format!("pair.{i}.frame_fragment")) {
                let frag = mean(&img(&format!("pair.{i}.frame_fragment")));
                let merged = mean(&img(&format!("pair.{i}.merged_fragment")));
                assert_eq!((at(2), at(3), at(4), at(5)), (frag, merged, -frag, -merged), "sample {i} pair blocks");
            }
        }
        all_features.push(out.features);
    }
    assert!(all_features.windows(2).all(|w| w[0] == w[1]), "features depend on the batch size");
}
