//! Proves the test-support helpers start real servers that clients can use.

use crate::support::{TestPostgres, TestRedis, ensure_unprivileged_can_reach, free_port};

async fn redis_ping(url: &str) -> redis::RedisResult<String> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async(&mut conn).await
}

#[tokio::test]
async fn redis_answers_ping() {
    let redis = TestRedis::start().await;
    assert_eq!(redis_ping(&redis.url()).await.unwrap(), "PONG");
}

#[tokio::test]
async fn redis_is_unreachable_while_stopped_and_back_after_restart_on_the_same_port() {
    let mut redis = TestRedis::start().await;
    let port = redis.port();
    redis.stop().await;
    assert!(!redis.is_running());
    assert!(
        redis_ping(&redis.url()).await.is_err(),
        "stopped redis must be unreachable"
    );
    redis.restart().await;
    assert_eq!(redis.port(), port);
    assert_eq!(redis_ping(&redis.url()).await.unwrap(), "PONG");
}

#[tokio::test]
async fn redis_restarts_after_being_killed() {
    let mut redis = TestRedis::start().await;
    let status = redis.kill().expect("was running");
    assert!(!status.success(), "SIGKILL is not a clean exit: {status}");
    redis.restart().await;
    assert_eq!(redis_ping(&redis.url()).await.unwrap(), "PONG");
}

#[tokio::test]
async fn redis_keeps_data_across_a_crash_when_the_test_asks_for_an_aof() {
    let mut redis =
        TestRedis::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut conn)
        .await
        .unwrap();
    redis.kill();
    redis.restart().await;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, "v");
}

#[tokio::test]
async fn postgres_is_version_17_and_serves_the_rinha_database() {
    let pg = TestPostgres::start().await;
    let (client, connection) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one("select version(), current_database()", &[])
        .await
        .unwrap();
    let version: String = row.get(0);
    let database: String = row.get(1);
    assert!(version.contains("PostgreSQL 17"), "{version}");
    assert_eq!(database, "rinha");
}

#[tokio::test]
async fn shared_postgres_gives_each_test_its_own_database() {
    let pg = TestPostgres::shared().await;
    let (a, b) = tokio::join!(pg.fresh_database(), pg.fresh_database());
    assert_ne!(a, b);
    let (client, connection) = tokio_postgres::connect(&a, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("create table t (x int); insert into t values (1)")
        .await
        .unwrap();
    let other = pg.connect(b.rsplit('/').next().unwrap()).await;
    assert!(
        other.query("select * from t", &[]).await.is_err(),
        "databases must not share tables"
    );
}

#[tokio::test]
async fn shared_postgres_is_one_server() {
    let first = TestPostgres::shared().await;
    let second = TestPostgres::shared().await;
    assert_eq!(first.port(), second.port());
}

#[test]
fn free_ports_are_distinct_across_threads() {
    let ports: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| (0..50).map(|_| free_port()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut unique = ports.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ports.len());
}

#[test]
fn a_private_directory_is_reported_as_unreachable_when_running_as_root() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let inner = dir.path().join("bin");
    std::fs::create_dir(&inner).unwrap();
    let result = ensure_unprivileged_can_reach(&inner);
    if crate::support::ServerUser::for_servers().is_some() {
        let why = result.expect_err("a 0700 root dir must block the server user");
        assert!(why.contains(&dir.path().display().to_string()), "{why}");
    } else {
        assert!(result.is_ok(), "not root: servers run as us");
    }
}
