//! `logs NAME [-f]`: an analysis' run log read page by page, and followed until the run ends.
//!
//! The decisions live here, over a [`LogSource`] (the gateway and the cluster in `cli.rs`, a
//! scripted log in the tests): follow the gateway's `resumeCursor` so every poll asks only for
//! the lines stored after the last one printed; ask whether the run has finished *before* a
//! read, so the read after the answer "finished" is the last and holds every line.

use gitview_core::results::{LogPage, LogRecord};

/// Where a run log's pages come from, and whether more will come.
pub trait LogSource {
    /// The page of lines after `cursor` (from the first line without one).
    fn page(&mut self, cursor: Option<&str>) -> anyhow::Result<LogPage>;
    /// Whether the run has finished: no line is stored after this answers true.
    fn finished(&mut self) -> anyhow::Result<bool>;
    /// Waits one poll interval.
    fn wait(&mut self);
}

/// Hands every line of the log to `print` once, in order (by attempt, then `seq`). With
/// `follow`, polls for lines stored later until the run has finished, then reads once more.
pub fn print_log(
    source: &mut impl LogSource,
    follow: bool,
    mut print: impl FnMut(&LogRecord),
) -> anyhow::Result<()> {
    let mut cursor: Option<String> = None;
    // The position of the last line printed. The cursor alone keeps lines from coming twice;
    // this also holds against a gateway older than `resumeCursor`, whose follower re-reads its
    // last page.
    let mut last: Option<(i32, u64)> = None;
    loop {
        let finished = !follow || source.finished()?;
        loop {
            let page = source.page(cursor.as_deref())?;
            for record in &page.items {
                let at = (record.attempt, record.line.seq);
                if last.is_none_or(|last| at > last) {
                    print(record);
                    last = Some(at);
                }
            }
            let more = page.next_cursor.is_some();
            // An empty page keeps the cursor it had.
            if let Some(after) = page.resume_cursor.or(page.next_cursor) {
                cursor = Some(after);
            }
            if !more {
                break;
            }
        }
        if finished {
            return Ok(());
        }
        source.wait();
    }
}

#[cfg(test)]
mod tests {
    use gitview_core::results::LogLine;

    use super::*;

    /// A log that grows while it is followed, paged like the gateway's (two lines a page, the
    /// cursor an index), optionally without `resumeCursor` (an older gateway).
    struct Growing {
        stored: Vec<(i32, u64)>,
        /// Lines stored at each poll interval, in turn; the run finishes after the last batch.
        batches: Vec<Vec<(i32, u64)>>,
        resume: bool,
        asked: Vec<Option<String>>,
        waits: usize,
        finished_asked: usize,
    }

    impl Growing {
        fn new(first: Vec<(i32, u64)>, batches: Vec<Vec<(i32, u64)>>) -> Self {
            Self {
                stored: first,
                batches,
                resume: true,
                asked: Vec::new(),
                waits: 0,
                finished_asked: 0,
            }
        }
    }

    fn record((attempt, seq): (i32, u64)) -> LogRecord {
        LogRecord {
            attempt,
            line: LogLine {
                seq,
                at: "2024-05-01T07:00:00Z".into(),
                level: gitview_core::results::LogLevel::Info,
                message: format!("line {attempt}/{seq}"),
                fields: serde_json::json!({}),
            },
        }
    }

    impl LogSource for Growing {
        fn page(&mut self, cursor: Option<&str>) -> anyhow::Result<LogPage> {
            self.asked.push(cursor.map(str::to_owned));
            let from = cursor.map_or(0, |c| c.parse::<usize>().expect("an index") + 1);
            let to = (from + 2).min(self.stored.len());
            let items: Vec<LogRecord> = self.stored[from..to].iter().copied().map(record).collect();
            let after = (!items.is_empty()).then(|| (to - 1).to_string());
            Ok(LogPage {
                items,
                next_cursor: after.clone().filter(|_| to < self.stored.len()),
                resume_cursor: after.filter(|_| self.resume),
            })
        }

        fn finished(&mut self) -> anyhow::Result<bool> {
            self.finished_asked += 1;
            Ok(self.batches.is_empty())
        }

        fn wait(&mut self) {
            self.waits += 1;
            if !self.batches.is_empty() {
                let batch = self.batches.remove(0);
                self.stored.extend(batch);
            }
        }
    }

    fn printed(source: &mut Growing, follow: bool) -> Vec<(i32, u64)> {
        let mut out = Vec::new();
        print_log(source, follow, |r| out.push((r.attempt, r.line.seq))).expect("reads");
        out
    }

    #[test]
    fn following_prints_each_line_once_and_asks_only_after_the_last() {
        let mut source = Growing::new(
            vec![(1, 0), (1, 1), (1, 2)],
            vec![
                vec![],
                vec![(1, 3)],
                vec![(1, 4), (1, 5), (2, 0)],
                vec![(2, 1)],
            ],
        );
        let out = printed(&mut source, true);
        assert_eq!(out, source.stored, "every line once, in order");
        // Never from the start again after the first read: each poll asks after the last line.
        assert_eq!(source.asked.iter().filter(|c| c.is_none()).count(), 1);
        assert_eq!(
            source.asked,
            [
                None,
                Some("1"),
                Some("2"),
                Some("2"),
                Some("3"),
                Some("5"),
                Some("6")
            ]
            .map(|c| c.map(str::to_owned))
        );
        // The last batch was stored in the last interval: read once after "finished", no more
        // waiting.
        assert_eq!(source.waits, 4);
        assert_eq!(source.finished_asked, 5);
    }

    #[test]
    fn without_follow_it_reads_once_and_never_waits() {
        let mut source = Growing::new(vec![(1, 0), (1, 1), (1, 2)], vec![vec![(1, 3)]]);
        assert_eq!(printed(&mut source, false), [(1, 0), (1, 1), (1, 2)]);
        assert_eq!((source.waits, source.finished_asked), (0, 0));
    }

    #[test]
    fn an_empty_log_of_a_finished_run_ends_at_once() {
        let mut source = Growing::new(vec![], vec![]);
        assert!(printed(&mut source, true).is_empty());
        assert_eq!((source.waits, source.asked.len()), (0, 1));
    }

    #[test]
    fn a_gateway_without_resume_cursors_prints_nothing_twice() {
        let mut source = Growing::new(
            vec![(1, 0), (1, 1), (1, 2)],
            vec![vec![(1, 3)], vec![], vec![(1, 4)]],
        );
        source.resume = false;
        let out = printed(&mut source, true);
        assert_eq!(out, source.stored);
    }
}
