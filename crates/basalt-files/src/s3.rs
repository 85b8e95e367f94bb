//! Files in an S3-compatible bucket through the `object_store` crate. Uploads go up as multipart
//! uploads in fixed-size parts (memory bounded by a few parts); downloads stream the object.

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};

use crate::{ByteRange, ByteStream, FileError, FileRead, FileStore, check_name};

/// Parts uploading at once; with 5 MiB parts this bounds an upload's buffers to about 20 MiB.
const PARTS_IN_FLIGHT_MAX: usize = 4;

/// Where the bucket is and how to reach it.
#[derive(Clone, Debug)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    /// An S3-compatible endpoint (`http://127.0.0.1:9000`); AWS when absent.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// A bucket of files.
pub struct S3FileStore {
    store: AmazonS3,
}

fn storage_error(error: object_store::Error) -> FileError {
    match error {
        object_store::Error::NotFound { .. } => FileError::NotFound,
        other => FileError::Storage(other.to_string()),
    }
}

impl S3FileStore {
    /// Configures the client (no request is made until the first file operation).
    ///
    /// # Errors
    /// When the configuration is incomplete.
    pub fn open(config: &S3Config) -> Result<S3FileStore, FileError> {
        let mut builder = AmazonS3Builder::new().with_bucket_name(&config.bucket).with_region(&config.region);
        if let Some(endpoint) = &config.endpoint {
            // Self-hosted S3 services answer on paths, not on bucket subdomains.
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(storage_error)?;
        Ok(S3FileStore { store })
    }

    fn path_of(name: &str) -> Result<ObjectPath, FileError> {
        check_name(name)?;
        Ok(ObjectPath::from(name))
    }

    async fn size_of(&self, path: &ObjectPath) -> Result<u64, FileError> {
        let meta = self.store.head(path).await.map_err(storage_error)?;
        Ok(meta.size)
    }
}

#[async_trait::async_trait]
impl FileStore for S3FileStore {
    async fn put(&self, name: &str, mut body: ByteStream, limit: u64) -> Result<u64, FileError> {
        let path = Self::path_of(name)?;
        let upload = self.store.put_multipart(&path).await.map_err(storage_error)?;
        let mut writer = WriteMultipart::new(upload);
        let mut written: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(FileError::Storage(error.to_string()));
                }
            };
            written = written.saturating_add(chunk.len() as u64);
            if written > limit {
                let _ = writer.abort().await;
                return Err(FileError::TooLarge { limit });
            }
            if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT_MAX).await {
                return Err(storage_error(error));
            }
            writer.write(&chunk);
        }
        writer.finish().await.map_err(storage_error)?;
        Ok(written)
    }

    async fn get(&self, name: &str, range: Option<ByteRange>) -> Result<FileRead, FileError> {
        let path = Self::path_of(name)?;
        let size = self.size_of(&path).await?;
        let resolved = match range {
            Some(range) => Some(range.resolve(size)?),
            None => None,
        };
        let options = GetOptions {
            range: resolved.map(|(start, end)| GetRange::Bounded(start..end + 1)),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&path, options).await.map_err(storage_error)?;
        let body = result.into_stream().map_err(|error| std::io::Error::other(error.to_string()));
        Ok(FileRead { size, range: resolved, body: Box::pin(body) })
    }

    async fn delete(&self, name: &str) -> Result<(), FileError> {
        let path = Self::path_of(name)?;
        self.size_of(&path).await?;
        self.store.delete(&path).await.map_err(storage_error)
    }
}
