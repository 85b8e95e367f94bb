//! File bytes behind one `FileStore` trait, streamed both ways so no file is ever held whole in
//! memory: `LocalFileStore` (a directory under the data dir, the default) and `S3FileStore` (any
//! S3-compatible service through the `object_store` crate). Names arrive checked by the engine;
//! the stores still refuse any name that could leave their root.

mod local;
mod s3;

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;

pub use local::LocalFileStore;
pub use s3::{S3Config, S3FileStore};

/// A stream of file bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// A stream of bytes already in memory (a base64 upload, a file cloud code made).
pub fn single_chunk(bytes: Vec<u8>) -> ByteStream {
    Box::pin(futures_util::stream::once(async move { Ok::<_, io::Error>(Bytes::from(bytes)) }))
}

/// What went wrong with a file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file not found")]
    NotFound,
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the requested range is not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("invalid file name")]
    InvalidName,
    #[error("storage failure: {0}")]
    Storage(String),
}

/// A requested byte range (`Range: bytes=…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive).
    Bounded(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive `(start, end)` this range selects in a file of `size` bytes.
    ///
    /// # Errors
    /// `RangeNotSatisfiable` when it selects nothing.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), FileError> {
        let unsatisfiable = FileError::RangeNotSatisfiable { size };
        if size == 0 {
            return Err(unsatisfiable);
        }
        let (start, end) = match self {
            ByteRange::Bounded(start, end) => (start, end.min(size - 1)),
            ByteRange::From(start) => (start, size - 1),
            ByteRange::Suffix(0) => return Err(unsatisfiable),
            ByteRange::Suffix(length) => (size.saturating_sub(length), size - 1),
        };
        if start > end || start >= size {
            return Err(unsatisfiable);
        }
        Ok((start, end))
    }
}

/// An open file: its total size, the inclusive range being sent (when ranged), and the bytes.
pub struct FileRead {
    pub size: u64,
    pub range: Option<(u64, u64)>,
    pub body: ByteStream,
}

/// Where file bytes live. Implementations stream; none buffers a whole file.
#[async_trait::async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores the bytes under `name`, refusing (and discarding) more than `limit` bytes. Returns
    /// the size. The file becomes visible only once complete.
    async fn put(&self, name: &str, body: ByteStream, limit: u64) -> Result<u64, FileError>;

    /// Opens a file, or the given range of it.
    async fn get(&self, name: &str, range: Option<ByteRange>) -> Result<FileRead, FileError>;

    /// Deletes a file.
    ///
    /// # Errors
    /// `NotFound` when there is no such file.
    async fn delete(&self, name: &str) -> Result<(), FileError>;
}

/// A name no store may use as a path: empty, with separators, `..`-like, or control characters.
pub(crate) fn check_name(name: &str) -> Result<(), FileError> {
    let unsafe_name = basalt_core::value::is_path_like_file_name(name) || name.len() > 512;
    if unsafe_name {
        return Err(FileError::InvalidName);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_within_the_file() {
        assert_eq!(ByteRange::Bounded(2, 5).resolve(10).unwrap(), (2, 5));
        assert_eq!(ByteRange::Bounded(2, 50).resolve(10).unwrap(), (2, 9));
        assert_eq!(ByteRange::From(7).resolve(10).unwrap(), (7, 9));
        assert_eq!(ByteRange::Suffix(3).resolve(10).unwrap(), (7, 9));
        assert!(ByteRange::From(10).resolve(10).is_err());
        assert!(ByteRange::Bounded(5, 2).resolve(10).is_err());
        assert!(ByteRange::Suffix(0).resolve(10).is_err());
    }

    #[test]
    fn names_that_could_leave_the_root_are_refused() {
        for name in ["", "../x", "a/b", "a\\b", ".hidden", "a\u{0}b", "a\nb"] {
            assert!(check_name(name).is_err(), "{name:?}");
        }
        assert!(check_name("0123_photo.png").is_ok());
    }
}
