//! Storage of each leg's media figures (`CallRecord.quality`, table `leg_quality`, migration 0014): written in
//! the records' transaction, only for records that were new, and read back with the record.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{insert_values_sql, Backend, Store};
use crate::record::{CallRecord, LegQuality};
use crate::TicketError;

const COLUMNS: &str = "call_id, leg, packets_received, lost, jitter_us, peer_reported_lost, \
     peer_reported_fraction_256, peer_jitter_us, rtt_ms, mos_x100";
const COLUMN_COUNT: usize = 10;

/// Inserts the legs' figures of the records just stored (500 rows × 10 parameters per statement).
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    fresh: &[&CallRecord],
    backend: Backend,
) -> Result<(), TicketError> {
    let rows: Vec<(&str, &LegQuality)> = fresh
        .iter()
        .flat_map(|r| r.quality.iter().map(|q| (r.call_id.as_str(), q)))
        .collect();
    for chunk in rows.chunks(500) {
        let mut sql = insert_values_sql("leg_quality", COLUMNS, COLUMN_COUNT, chunk.len(), backend);
        // A leg reported twice (it cannot be, but a record is outside input to the store): the first wins.
        sql.push_str(" ON CONFLICT (call_id, leg) DO NOTHING");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for (call_id, l) in chunk {
            q = q
                .bind(*call_id)
                .bind(i64::from(l.leg))
                .bind(l.packets_received)
                .bind(l.lost)
                .bind(l.jitter_us)
                .bind(l.peer_reported_lost)
                .bind(l.peer_reported_fraction_256)
                .bind(l.peer_jitter_us)
                .bind(l.rtt_ms)
                .bind(l.mos_x100);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

fn from_row(r: &AnyRow) -> Result<LegQuality, TicketError> {
    let leg: i64 = r.try_get("leg")?;
    Ok(LegQuality {
        leg: u32::try_from(leg)
            .map_err(|_| TicketError::Corrupt(format!("leg_quality leg {leg}")))?,
        packets_received: r.try_get("packets_received")?,
        lost: r.try_get("lost")?,
        jitter_us: r.try_get("jitter_us")?,
        peer_reported_lost: r.try_get("peer_reported_lost")?,
        peer_reported_fraction_256: r.try_get("peer_reported_fraction_256")?,
        peer_jitter_us: r.try_get("peer_jitter_us")?,
        rtt_ms: r.try_get("rtt_ms")?,
        mos_x100: r.try_get("mos_x100")?,
    })
}

impl Store {
    /// A call's legs' figures, by leg.
    pub async fn leg_quality(&self, call_id: &str) -> Result<Vec<LegQuality>, TicketError> {
        let sql = format!("SELECT {COLUMNS} FROM leg_quality WHERE call_id = $1 ORDER BY leg");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(call_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }
}
