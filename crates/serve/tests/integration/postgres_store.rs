//! The shared job table against a real PostgreSQL (a throwaway server on
//! 127.0.0.1, started and stopped here): migrations that two replicas run at
//! once, claims that never hand a job to two workers, leases that run out,
//! the attempt as fencing token, the attempt limit and the shared queue
//! size.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use relaxvqa_fixtures::postgres::TestPostgres;
use relaxvqa_serve::jobs::store::{Cancel, JobStore, NewJob, PostgresStore, Status};

fn job(id: &str) -> NewJob {
    NewJob {
        id: id.into(),
        input: PathBuf::from(format!("/u/{id}")),
        name: format!("upload {id}"),
        upload: true,
        segments: 1.0,
        identity: None,
    }
}

fn open(pg: &TestPostgres, lease_ms: u64, max_interrupted: u32) -> PostgresStore {
    PostgresStore::open(&pg.url, Duration::from_millis(lease_ms), max_interrupted)
        .unwrap_or_else(|e| panic!("{e}\n{}", pg.log()))
}

#[test]
fn leases_fencing_and_the_shared_queue() {
    let pg = TestPostgres::start();
    // Two replicas starting at the same moment migrate once.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| open(&pg, 1000, 2));
        let b = s.spawn(|| open(&pg, 1000, 2));
        (a.join().unwrap(), b.join().unwrap())
    });

    // The queue size counts every replica's jobs, under concurrent inserts.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let inserted: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let st = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
                s.spawn(move || (0..3).filter(|k| st.insert_if_room(&job(&format!("q{i}-{k}")), 10).unwrap()).count())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    println!("inserted {inserted} of 24 with room for 10");
    assert_eq!(inserted, 10);
    assert_eq!(a.active().unwrap(), 10);

    // Eight workers over two replicas claim the ten jobs: each exactly once.
    let claimed: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let st = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(j) = st.claim().unwrap() {
                        assert_eq!((j.status, j.attempts), (Status::Running, 1));
                        assert!(st.finish_done(&j.id, j.attempts, "{}").unwrap());
                        mine.push(j.id);
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut unique = claimed.clone();
    unique.sort();
    unique.dedup();
    println!("claimed {} jobs, {} distinct", claimed.len(), unique.len());
    assert_eq!((claimed.len(), unique.len()), (10, 10));

    // A lease that runs out: the job goes to the other replica under a new
    // attempt, and the first attempt can neither renew nor write.
    assert!(a.insert_if_room(&job("lease"), 100).unwrap());
    let first = a.claim().unwrap().unwrap();
    assert!(b.claim().unwrap().is_none(), "a job under a live lease is not taken");
    assert!(a.renew("lease", first.attempts).unwrap());
    std::thread::sleep(Duration::from_millis(1300));
    let second = b.claim().unwrap().expect("taken over after the lease ran out");
    assert_eq!((second.id.as_str(), second.attempts, second.interrupted), ("lease", 2, 1));
    assert!(!a.renew("lease", first.attempts).unwrap(), "the old attempt's renewal is refused");
    assert!(!a.finish_done("lease", first.attempts, "{\"stale\":1}").unwrap(), "the stale result is refused");
    assert!(!a.finish_failed("lease", first.attempts, "x", "internal").unwrap());
    assert!(!a.requeue("lease", first.attempts).unwrap());
    assert!(b.finish_done("lease", second.attempts, "{\"fresh\":1}").unwrap());
    let done = a.get("lease").unwrap().unwrap();
    assert_eq!((done.status, done.result.as_deref()), (Status::Done, Some("{\"fresh\":1}")));

    // The attempt limit: a job whose replica dies twice (max 2) fails.
    assert!(a.insert_if_room(&job("dies"), 100).unwrap());
    assert_eq!(a.claim().unwrap().unwrap().attempts, 1);
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(b.claim().unwrap().unwrap().attempts, 2);
    std::thread::sleep(Duration::from_millis(1300));
    assert!(a.claim().unwrap().is_none(), "given up, not taken a third time");
    let dies = a.get("dies").unwrap().unwrap();
    println!("{:?}: {:?}", dies.status, dies.error);
    assert_eq!(dies.status, Status::Failed);
    assert!(dies.error.unwrap().contains("stopped 2 times"));

    // Cancel reaches a job another replica runs: its next renewal fails.
    assert!(a.insert_if_room(&job("cancel"), 100).unwrap());
    let c = b.claim().unwrap().unwrap();
    assert_eq!(a.cancel("cancel").unwrap(), Cancel::Running);
    assert!(!b.renew("cancel", c.attempts).unwrap());
    assert!(!b.finish_done("cancel", c.attempts, "{}").unwrap());
    assert_eq!(a.cancel("cancel").unwrap(), Cancel::Final(Status::Cancelled));
    assert_eq!(a.cancel("nope").unwrap(), Cancel::Missing);
    let counts = a.counts().unwrap();
    println!("{counts:?}");
    assert!(counts.contains(&(Status::Done, 11)) && counts.contains(&(Status::Cancelled, 1)));

    // A database migrated further than this version knows is refused.
    let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    c.execute("INSERT INTO relaxvqa_migrations (version, description) VALUES (99, 'from the future')", &[]).unwrap();
    let e = PostgresStore::open(&pg.url, Duration::from_secs(30), 3).err().expect("refused");
    println!("{e}");
    assert!(e.to_string().contains("schema version 99"));
}
