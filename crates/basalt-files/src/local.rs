//! Files on local disk, in one directory. Uploads stream into a temporary file that is synced and
//! renamed into place when complete, so a crash never leaves half a file under a real name.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::fs;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::{ByteRange, ByteStream, FileError, FileRead, FileStore, check_name};

/// Read buffer for downloads.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// A directory of files.
pub struct LocalFileStore {
    root: PathBuf,
}

fn storage_error(error: std::io::Error) -> FileError {
    FileError::Storage(error.to_string())
}

impl LocalFileStore {
    /// Uses (creating) `root`.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<LocalFileStore, FileError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(storage_error)?;
        Ok(LocalFileStore { root })
    }

    fn path_of(&self, name: &str) -> Result<PathBuf, FileError> {
        check_name(name)?;
        Ok(self.root.join(name))
    }
}

async fn remove_quietly(path: &Path) {
    if let Err(error) = fs::remove_file(path).await {
        tracing::warn!(%error, path = %path.display(), "could not remove a temporary upload");
    }
}

#[async_trait::async_trait]
impl FileStore for LocalFileStore {
    async fn put(&self, name: &str, mut body: ByteStream, limit: u64) -> Result<u64, FileError> {
        let target = self.path_of(name)?;
        let suffix: String = rand::rng().sample_iter(&Alphanumeric).take(12).map(char::from).collect();
        let temporary = self.root.join(format!(".upload-{suffix}"));
        let mut file = fs::File::create(&temporary).await.map_err(storage_error)?;
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    drop(file);
                    remove_quietly(&temporary).await;
                    return Err(storage_error(error));
                }
            };
            written = written.saturating_add(chunk.len() as u64);
            if written > limit {
                drop(file);
                remove_quietly(&temporary).await;
                return Err(FileError::TooLarge { limit });
            }
            if let Err(error) = file.write_all(&chunk).await {
                drop(file);
                remove_quietly(&temporary).await;
                return Err(storage_error(error));
            }
        }
        file.sync_all().await.map_err(storage_error)?;
        drop(file);
        fs::rename(&temporary, &target).await.map_err(storage_error)?;
        Ok(written)
    }

    async fn get(&self, name: &str, range: Option<ByteRange>) -> Result<FileRead, FileError> {
        let path = self.path_of(name)?;
        let mut file = match fs::File::open(&path).await {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(FileError::NotFound),
            Err(error) => return Err(storage_error(error)),
        };
        let size = file.metadata().await.map_err(storage_error)?.len();
        let Some(range) = range else {
            let body = ReaderStream::with_capacity(file, READ_CHUNK_BYTES);
            return Ok(FileRead { size, range: None, body: Box::pin(body) });
        };
        let (start, end) = range.resolve(size)?;
        file.seek(SeekFrom::Start(start)).await.map_err(storage_error)?;
        let body = ReaderStream::with_capacity(file.take(end - start + 1), READ_CHUNK_BYTES);
        Ok(FileRead { size, range: Some((start, end)), body: Box::pin(body) })
    }

    async fn delete(&self, name: &str) -> Result<(), FileError> {
        let path = self.path_of(name)?;
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(FileError::NotFound),
            Err(error) => Err(storage_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures_util::stream;

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        Box::pin(stream::iter(parts.iter().map(|part| Ok(Bytes::from_static(part))).collect::<Vec<_>>()))
    }

    async fn read_all(read: FileRead) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = read.body;
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn round_trip_ranges_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::open(dir.path()).unwrap();
        assert_eq!(store.put("a_b.txt", chunks(&[b"hello ", b"world"]), 100).await.unwrap(), 11);
        assert_eq!(read_all(store.get("a_b.txt", None).await.unwrap()).await, b"hello world");
        let ranged = store.get("a_b.txt", Some(ByteRange::Bounded(6, 10))).await.unwrap();
        assert_eq!(ranged.range, Some((6, 10)));
        assert_eq!(read_all(ranged).await, b"world");
        store.delete("a_b.txt").await.unwrap();
        assert!(matches!(store.get("a_b.txt", None).await, Err(FileError::NotFound)));
        assert!(matches!(store.delete("a_b.txt").await, Err(FileError::NotFound)));
    }

    #[tokio::test]
    async fn an_upload_over_the_limit_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::open(dir.path()).unwrap();
        let result = store.put("big.bin", chunks(&[b"12345", b"67890"]), 8).await;
        assert!(matches!(result, Err(FileError::TooLarge { limit: 8 })));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn paths_outside_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileStore::open(dir.path().join("files")).unwrap();
        assert!(matches!(store.put("../escape", chunks(&[b"x"]), 10).await, Err(FileError::InvalidName)));
        assert!(matches!(store.get("../../etc/passwd", None).await, Err(FileError::InvalidName)));
    }
}
