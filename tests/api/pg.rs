//! A fresh PostgreSQL database per test on the server named by `GATEWAY_TEST_DATABASE_URL`
//! (`.ci/postgres.sh` starts one), for the store's contract tests and the tests that run several
//! gateway processes.
//! Without the variable such tests are skipped, except under `CI=true`, where they fail.

use sqlx::Connection;

const PG_URL_VAR: &str = "GATEWAY_TEST_DATABASE_URL";

/// A `t_<uuid>` database on the test server; `drop_it` removes it (connections cut).
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// The URL of the fresh database.
    pub url: String,
}

impl PgDatabase {
    /// A fresh database, or None when no server is configured outside CI (skipped).
    pub async fn create() -> Option<PgDatabase> {
        let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "{PG_URL_VAR} is unset under CI=true: the PostgreSQL tests must run (source .ci/postgres.sh first)"
            );
            eprintln!("skipped: {PG_URL_VAR} is unset (bash .ci/postgres.sh starts one)");
            return None;
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("connect to GATEWAY_TEST_DATABASE_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database, cutting its connections.
    pub async fn drop_it(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}

/// `url` with its database (the path) replaced by `name`, its query string kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
}
