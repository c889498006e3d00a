//! A whole export loaded chunk by chunk: the records are read on a thread of their own, a
//! chunk ahead of the writes (memory stays flat whatever the file's size), and each chunk is
//! written in file order, tried again while storage is unavailable (the load is idempotent).
//!
//! What comes out is a stream of the chunks loaded, so that the caller keeps its place as it
//! likes (a file beside the export for the CLI, a blob beside the upload for the function) and
//! stops when it likes (before a deadline): dropping the stream stops the reading.

use std::io;
use std::time::Duration;

use futures::Stream;
use tokio::sync::mpsc;

use super::{OFF_CHUNK, OffImportOptions, OffImportStats};
use crate::off::OffProduct;
use crate::off::reader::Records;
use crate::services::{Catalog, ServiceError};

/// Tries of a chunk while storage is unavailable (pauses of 1, 2, 4... s between them).
pub const CHUNK_ATTEMPTS: u32 = 6;
/// The first pause before a chunk is tried again.
const FIRST_PAUSE: Duration = Duration::from_secs(1);

/// A chunk of the export, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedChunk {
    /// Records the chunk covered, skipped ones included: the place moves on by this many.
    pub records: u64,
    pub stats: OffImportStats,
}

/// Why a load stopped.
#[derive(Debug, thiserror::Error)]
pub enum OffLoadError {
    /// The export could not be read (`at`: records read before).
    #[error("reading the export after record {at}: {source}")]
    Read { at: u64, source: io::Error },
    /// Writing a chunk failed (after its tries, when storage was unavailable).
    #[error("loading the chunk after record {at}: {source}")]
    Write { at: u64, source: ServiceError },
}

impl OffLoadError {
    /// Whether the export itself is at fault (not gzip, cut short, not text): reading it again
    /// will not help.
    pub fn is_bad_file(&self) -> bool {
        matches!(self, OffLoadError::Read { source, .. } if matches!(
            source.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput
        ))
    }
}

/// What the reading thread hands over.
enum Handed {
    Chunk {
        records: Vec<OffProduct>,
        /// Lines that were not records.
        skipped: u64,
    },
    /// The end of the export.
    End,
    Failed(io::Error),
}

/// Reads the chunks of `records` after passing over the first `skip`, into `tx`.
fn read_chunks(
    open: impl FnOnce() -> io::Result<Box<dyn Records>>,
    skip: u64,
    tx: mpsc::Sender<Handed>,
) {
    let send = |m: Handed| tx.blocking_send(m).is_ok();
    let mut records = match open() {
        Ok(r) => r,
        Err(e) => {
            send(Handed::Failed(e));
            return;
        }
    };
    if let Err(e) = records.pass(skip) {
        send(Handed::Failed(e));
        return;
    }
    loop {
        let (mut chunk, mut skipped) = (Vec::with_capacity(OFF_CHUNK), 0u64);
        while chunk.len() as u64 + skipped < OFF_CHUNK as u64 {
            match records.next() {
                Some(Ok(Ok(p))) => chunk.push(p),
                Some(Ok(Err(line))) => {
                    tracing::debug!(%line, "line skipped");
                    skipped += 1;
                }
                Some(Err(e)) => {
                    send(Handed::Failed(e));
                    return;
                }
                None => break,
            }
        }
        let last = (chunk.len() as u64 + skipped) < OFF_CHUNK as u64;
        if (!chunk.is_empty() || skipped > 0)
            && !send(Handed::Chunk {
                records: chunk,
                skipped,
            })
        {
            return;
        }
        if last {
            send(Handed::End);
            return;
        }
    }
}

impl Catalog {
    /// Loads the export `open` opens (on the reading thread: it may block), passing over its
    /// first `skip` records (an earlier run loaded them): the chunks as they are written, in
    /// file order. The stream ends after the last chunk, or after the first error.
    pub fn load_off_export(
        &self,
        open: impl FnOnce() -> io::Result<Box<dyn Records>> + Send + 'static,
        skip: u64,
        opts: OffImportOptions,
    ) -> impl Stream<Item = Result<LoadedChunk, OffLoadError>> + '_ {
        let (tx, rx) = mpsc::channel::<Handed>(2);
        tokio::task::spawn_blocking(move || read_chunks(open, skip, tx));
        // (receiver, records read so far, whether the stream is over)
        futures::stream::unfold((rx, skip, false), move |(mut rx, at, over)| {
            let opts = opts.clone();
            async move {
                if over {
                    return None;
                }
                let (records, skipped) = match rx.recv().await {
                    Some(Handed::Chunk { records, skipped }) => (records, skipped),
                    Some(Handed::End) => return None,
                    Some(Handed::Failed(source)) => {
                        return Some((Err(OffLoadError::Read { at, source }), (rx, at, true)));
                    }
                    // The thread ended without saying so (it panicked): never taken for the
                    // end of the file.
                    None => {
                        let source = io::Error::other("the export's reader stopped");
                        return Some((Err(OffLoadError::Read { at, source }), (rx, at, true)));
                    }
                };
                let n = records.len() as u64 + skipped;
                match self.load_off_chunk_retrying(records, skipped, &opts).await {
                    Ok(stats) => Some((Ok(LoadedChunk { records: n, stats }), (rx, at + n, false))),
                    Err(source) => Some((Err(OffLoadError::Write { at, source }), (rx, at, true))),
                }
            }
        })
    }

    /// [`Catalog::load_off_chunk`], again after a pause that doubles while storage is
    /// unavailable (too busy or down for a moment), up to [`CHUNK_ATTEMPTS`] tries.
    async fn load_off_chunk_retrying(
        &self,
        records: Vec<OffProduct>,
        skipped: u64,
        opts: &OffImportOptions,
    ) -> Result<OffImportStats, ServiceError> {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.load_off_chunk(&records, skipped, opts).await {
                Err(ServiceError::Unavailable(e)) if attempt < CHUNK_ATTEMPTS => {
                    tracing::warn!(error = %e, attempt, "storage unavailable; the chunk again in {pause:?}");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                done => return done,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> String {
        (0..n).map(|i| format!("{{\"code\":\"{i}\"}}\n")).collect()
    }

    fn chunks_of(input: String, skip: u64) -> Vec<Handed> {
        let (tx, mut rx) = mpsc::channel(1000);
        read_chunks(
            move || {
                Ok(Box::new(crate::off::reader::JsonLines::new(io::Cursor::new(
                    input.into_bytes(),
                ))) as Box<dyn Records>)
            },
            skip,
            tx,
        );
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            out.push(m);
        }
        out
    }

    fn sizes(read: &[Handed]) -> Vec<Option<u64>> {
        read.iter()
            .map(|r| match r {
                Handed::Chunk { records, skipped } => Some(records.len() as u64 + skipped),
                Handed::End => None,
                Handed::Failed(e) => panic!("{e}"),
            })
            .collect()
    }

    #[test]
    fn chunks_cover_the_records_after_the_place_and_say_where_the_end_is() {
        let n = OFF_CHUNK as u64;
        assert_eq!(
            sizes(&chunks_of(lines(2 * OFF_CHUNK + 5), 0)),
            [Some(n), Some(n), Some(5), None]
        );
        // Exactly a chunk: the end follows it, no empty chunk.
        assert_eq!(sizes(&chunks_of(lines(OFF_CHUNK), 0)), [Some(n), None]);
        assert_eq!(
            sizes(&chunks_of(lines(OFF_CHUNK + 5), 10)),
            [Some(n - 5), None]
        );
        assert_eq!(sizes(&chunks_of(lines(3), 10)), [None]);
        // Lines that are not records count, so the place stays a count of records.
        let mixed = format!("{}not json\n{}", lines(10), lines(OFF_CHUNK));
        assert_eq!(sizes(&chunks_of(mixed, 0)), [Some(n), Some(11), None]);
    }

    #[test]
    fn a_bad_file_is_told_from_a_failing_read() {
        let bad = OffLoadError::Read {
            at: 0,
            source: io::Error::new(io::ErrorKind::InvalidData, "corrupt deflate stream"),
        };
        assert!(bad.is_bad_file());
        let down = OffLoadError::Read {
            at: 0,
            source: io::Error::new(io::ErrorKind::ConnectionReset, "reset"),
        };
        assert!(!down.is_bad_file());
    }
}
