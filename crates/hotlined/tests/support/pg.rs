//! The PostgreSQL variant of an e2e test: a fresh database on the server named by TICKET_TEST_PG_URL
//! (`scripts/pg-test.sh start`), as the ticket crate's tests make them. None (with a loud message) without it.
#![allow(dead_code)]

use sqlx::Connection;

pub fn fresh_database() -> Option<String> {
    let Ok(base) = std::env::var("TICKET_TEST_PG_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! PostgreSQL e2e variant SKIPPED: TICKET_TEST_PG_URL is not set \
             (eval \"$(scripts/pg-test.sh start)\") !!!!!!!!\n"
        );
        return None;
    };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("e2e_{}_{t}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base.as_str(), String::new()),
    };
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let root = match head[after_scheme..].find('/') {
        Some(i) => &head[..after_scheme + i],
        None => head,
    };
    Some(format!("{root}/{name}{query}"))
}
