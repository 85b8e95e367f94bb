//! Files (`/files`): who may upload, which names and extensions are accepted, the unique
//! stored name, and the URL objects reference. The bytes go to a `FileStore`.

use std::sync::Arc;

use basalt_core::{ClassName, ErrorCode, ParseError, ParseResult};
use basalt_files::{ByteRange, ByteStream, FileError, FileRead, FileStore};
use base64::Engine as _;
use rand::Rng;
use serde_json::Value;

use crate::TriggerKind;
use crate::conditions::field_equals;
use crate::triggers::FileInfo;
use crate::{Caller, Engine};

/// The bytes cloud code gives a file: `base64` text or a `bytes` array; `None` without either.
///
/// # Errors
/// 130 for data that is not base64 or not bytes.
pub fn file_data(source: &serde_json::Map<String, Value>) -> ParseResult<Option<Vec<u8>>> {
    match (source.get("base64"), source.get("bytes")) {
        (Some(Value::String(text)), _) => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Some)
            .map_err(|_| ParseError::new(ErrorCode::FileSaveError, "Invalid base64 file data.")),
        (_, Some(Value::Array(items))) => items
            .iter()
            .map(|item| item.as_u64().and_then(|byte| u8::try_from(byte).ok()))
            .collect::<Option<Vec<u8>>>()
            .map(Some)
            .ok_or_else(|| ParseError::new(ErrorCode::FileSaveError, "File bytes must be numbers from 0 to 255.")),
        _ => Ok(None),
    }
}

/// A file opened for download, with what the file triggers decided.
pub struct FileDownload {
    pub read: FileRead,
    /// The stored name served (a `beforeFind` may serve another file).
    pub name: String,
    /// An `afterFind` asked for `Content-Disposition: attachment`.
    pub force_download: bool,
    /// Headers an `afterFind` set (`request.responseHeaders`).
    pub response_headers: Vec<(String, String)>,
}

/// Why a download is not served.
#[derive(Debug)]
pub enum DownloadError {
    /// A file trigger refused it (the server answers 403 with the trigger's error).
    Refused(ParseError),
    File(FileError),
}

/// A file just written to storage.
struct StoredFile {
    name: String,
    url: String,
    size: u64,
}

/// File settings: Parse Server's `fileUpload` options (`maxUploadSize` is
/// `Limits::file_upload_bytes_max`).
#[derive(Clone)]
pub struct FilesConfig {
    pub store: Arc<dyn FileStore>,
    /// Requests without a user may upload (`fileUpload.enableForPublic`, default off).
    pub enable_for_public: bool,
    /// Anonymous users may upload (`fileUpload.enableForAnonymousUser`, default off).
    pub enable_for_anonymous_user: bool,
    /// Logged-in users may upload (`fileUpload.enableForAuthenticatedUser`, default on).
    pub enable_for_authenticated_user: bool,
}

impl std::fmt::Debug for FilesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesConfig")
            .field("enable_for_public", &self.enable_for_public)
            .field("enable_for_anonymous_user", &self.enable_for_anonymous_user)
            .field("enable_for_authenticated_user", &self.enable_for_authenticated_user)
            .finish_non_exhaustive()
    }
}

/// Extensions a browser would run as a page or script if served from our origin; refused like
/// Parse Server 9's default `fileUpload.fileExtensions`.
const REFUSED_EXTENSIONS: &[&str] = &[
    "html", "htm", "shtml", "xhtml", "xht", "svg", "svgz", "xml", "xsl", "xslt", "xsd", "rng", "rdf", "owl", "mathml",
];

/// Checks an original file name: `^[_a-zA-Z0-9][a-zA-Z0-9@. ~_-]*$`, at most 128 bytes.
///
/// # Errors
/// 122 for a bad name.
pub(crate) fn check_file_name(name: &str) -> ParseResult<()> {
    if name.is_empty() {
        return Err(ParseError::new(ErrorCode::InvalidFileName, "Filename not provided."));
    }
    if name.len() > basalt_core::Limits::FILE_NAME_BYTES_MAX {
        return Err(ParseError::new(ErrorCode::InvalidFileName, "Filename too long."));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | ' ' | '~' | '_' | '-'));
    if !first_ok || !rest_ok {
        return Err(ParseError::new(ErrorCode::InvalidFileName, "Filename contains invalid characters."));
    }
    Ok(())
}

/// The usual extension of common content types (the mime database lists several per type,
/// alphabetically, so its first is often not the usual one: `text/plain` → `asm`).
const USUAL_EXTENSIONS: &[(&str, &str)] = &[
    ("text/plain", "txt"),
    ("text/html", "html"),
    ("text/csv", "csv"),
    ("text/xml", "xml"),
    ("application/xml", "xml"),
    ("application/json", "json"),
    ("application/pdf", "pdf"),
    ("application/zip", "zip"),
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("image/svg+xml", "svg"),
    ("audio/mpeg", "mp3"),
    ("video/mp4", "mp4"),
];

/// The extension of a file: from its name, or else from its content type.
fn extension_of(name: &str, content_type: Option<&str>) -> Option<String> {
    if let Some((_, extension)) = name.rsplit_once('.') {
        return Some(extension.to_owned());
    }
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    if let Some((_, extension)) = USUAL_EXTENSIONS.iter().find(|(mime, _)| *mime == essence) {
        return Some((*extension).to_owned());
    }
    mime_guess::get_mime_extensions_str(&essence)?.first().map(|extension| (*extension).to_owned())
}

/// Refuses script-capable types for clients (the master key may store anything).
fn check_extension(extension: Option<&str>) -> ParseResult<()> {
    if let Some(extension) = extension
        && REFUSED_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
    {
        return Err(ParseError::new(
            ErrorCode::FileSaveError,
            format!("File upload of extension {extension} is disabled."),
        ));
    }
    Ok(())
}

fn file_error(error: FileError) -> ParseError {
    match error {
        FileError::NotFound => ParseError::object_not_found_with("File not found."),
        FileError::TooLarge { limit } => {
            ParseError::new(ErrorCode::FileSaveError, format!("File size exceeds the limit of {limit} bytes."))
        }
        FileError::RangeNotSatisfiable { .. } => ParseError::invalid_query("Range not satisfiable."),
        FileError::InvalidName => ParseError::new(ErrorCode::InvalidFileName, "Filename contains invalid characters."),
        FileError::Storage(message) => ParseError::internal(format!("file storage: {message}")),
    }
}

/// A saved file: its stored name and URL.
#[derive(Clone, Debug)]
pub struct SavedFile {
    pub name: String,
    pub url: String,
}

impl Engine {
    fn files(&self) -> ParseResult<&FilesConfig> {
        self.config()
            .files
            .as_ref()
            .ok_or_else(|| ParseError::new(ErrorCode::FileSaveError, "File storage is not configured."))
    }

    /// The largest upload accepted, in bytes.
    pub fn upload_bytes_max(&self) -> u64 {
        self.config().files.as_ref().map_or(0, |_| self.limits().file_upload_bytes_max)
    }

    async fn check_upload_allowed(&self, caller: &Caller, files: &FilesConfig) -> ParseResult<()> {
        if caller.is_master {
            return Ok(());
        }
        let Some(user_id) = &caller.user_id else {
            if files.enable_for_public {
                return Ok(());
            }
            return Err(ParseError::new(ErrorCode::FileSaveError, "File upload by public is disabled."));
        };
        let user = self
            .records_where(
                &ClassName::system("_User"),
                field_equals("objectId", Value::String(user_id.clone())),
                Some(1),
            )
            .await?;
        let anonymous =
            user.first().and_then(|user| user.fields.get("authData")).and_then(|data| data.get("anonymous")).is_some();
        match anonymous {
            true if files.enable_for_anonymous_user => Ok(()),
            true => Err(ParseError::new(ErrorCode::FileSaveError, "File upload by anonymous user is disabled.")),
            false if files.enable_for_authenticated_user => Ok(()),
            false => Err(ParseError::new(ErrorCode::FileSaveError, "File upload by authenticated user is disabled.")),
        }
    }

    /// `POST /files/:filename`: stores the bytes under a unique name (32 random hex digits, `_`,
    /// the original name) and returns it with its URL. `size` is the declared length, for the
    /// file triggers (which see the file's name, not its bytes: uploads stream).
    ///
    /// # Errors
    /// 122 bad name, 130 refused upload (permissions, extension, size, a beforeSave trigger),
    /// 1 storage failure.
    pub async fn save_file(
        &self,
        caller: &Caller,
        file_name: &str,
        content_type: Option<&str>,
        size: Option<u64>,
        body: ByteStream,
    ) -> ParseResult<SavedFile> {
        let files = self.files()?;
        check_file_name(file_name)?;
        self.check_upload_allowed(caller, files).await?;
        let info = FileInfo { name: file_name, url: None, size, content_type };
        let replacement = self.run_file_trigger(TriggerKind::BeforeSave, caller, info).await?;
        let mut file_name = file_name.to_owned();
        let mut content_type = content_type.map(str::to_owned);
        let mut body = body;
        if let Some(replacement) = replacement {
            let text = |key: &str| replacement.get(key).and_then(Value::as_str).map(str::to_owned);
            if let (Some(name), Some(url)) = (text("name"), text("url")) {
                // The trigger answered a file that is stored already: nothing to store.
                let saved = SavedFile { name, url };
                let info = FileInfo { name: &saved.name, url: Some(&saved.url), size: None, content_type: None };
                self.run_file_trigger(TriggerKind::AfterSave, caller, info).await?;
                return Ok(saved);
            }
            if let Some(name) = text("name") {
                check_file_name(&name)?;
                file_name = name;
            }
            if let Some(kind) = text("contentType") {
                content_type = Some(kind);
            }
            if let Some(bytes) = file_data(&replacement)? {
                body = basalt_files::single_chunk(bytes);
            }
        }
        let saved = self.store_file(caller, files, &file_name, content_type.as_deref(), body).await?;
        let info = FileInfo { name: &saved.name, url: Some(&saved.url), size: Some(saved.size), content_type: None };
        self.run_file_trigger(TriggerKind::AfterSave, caller, info).await?;
        Ok(SavedFile { name: saved.name, url: saved.url })
    }

    async fn store_file(
        &self,
        caller: &Caller,
        files: &FilesConfig,
        file_name: &str,
        content_type: Option<&str>,
        body: ByteStream,
    ) -> ParseResult<StoredFile> {
        let extension = extension_of(file_name, content_type);
        if !caller.is_master {
            check_extension(extension.as_deref())?;
        }
        let prefix: [u8; 16] = rand::rng().random();
        let prefix: String = prefix.iter().map(|byte| format!("{byte:02x}")).collect();
        // Parse compat: a name without an extension gets the one of its content type.
        let name = match (file_name.contains('.'), &extension) {
            (false, Some(extension)) => format!("{prefix}_{file_name}.{extension}"),
            _ => format!("{prefix}_{file_name}"),
        };
        let size = files.store.put(&name, body, self.limits().file_upload_bytes_max).await.map_err(file_error)?;
        if size == 0 {
            // Parse compat: an empty file is not an upload.
            let _ = files.store.delete(&name).await;
            return Err(ParseError::new(ErrorCode::FileSaveError, "Invalid file upload."));
        }
        let url = crate::output::file_url(&self.config().files_url_prefix, &name);
        Ok(StoredFile { name, url, size })
    }

    /// Are `beforeFind`/`afterFind` triggers registered for files? (Downloads then resolve the
    /// caller, whom the triggers see.)
    pub fn has_file_find_triggers(&self) -> bool {
        self.trigger_hooks(TriggerKind::BeforeFind, crate::triggers::FILE_CLASS).is_some()
            || self.trigger_hooks(TriggerKind::AfterFind, crate::triggers::FILE_CLASS).is_some()
    }

    /// Opens a stored file (or a range of it) for download, through the file triggers: a
    /// `beforeFind` may refuse or serve another stored file, an `afterFind` may refuse, force a
    /// download or set response headers. No keys are needed otherwise: the unique name is the
    /// capability, as in Parse Server.
    ///
    /// # Errors
    /// `Refused` with the trigger's error; `File` when missing, for a bad name, or for an
    /// unsatisfiable range (the server answers 416).
    pub async fn open_file(
        &self,
        caller: &Caller,
        name: &str,
        range: Option<ByteRange>,
    ) -> Result<FileDownload, DownloadError> {
        let Some(files) = self.config().files.as_ref() else { return Err(DownloadError::File(FileError::NotFound)) };
        let mut name = name.to_owned();
        let url = crate::output::file_url(&self.config().files_url_prefix, &name);
        let info = FileInfo { name: &name, url: Some(&url), size: None, content_type: None };
        let before =
            self.run_file_trigger(TriggerKind::BeforeFind, caller, info).await.map_err(DownloadError::Refused)?;
        if let Some(other) = before.as_ref().and_then(|file| file.get("name")).and_then(Value::as_str) {
            // A stored name (`<prefix>_<name>`, longer than an upload's may be): one file, no path.
            basalt_core::value::check_file_value_name(other).map_err(DownloadError::Refused)?;
            name = other.to_owned();
        }
        let read = files.store.get(&name, range).await.map_err(DownloadError::File)?;
        let mut download = FileDownload { read, name, force_download: false, response_headers: Vec::new() };
        let url = crate::output::file_url(&self.config().files_url_prefix, &download.name);
        let info =
            FileInfo { name: &download.name, url: Some(&url), size: Some(download.read.size), content_type: None };
        let after = self
            .run_file_trigger_outcome(TriggerKind::AfterFind, caller, info)
            .await
            .map_err(DownloadError::Refused)?;
        if let Some(after) = after {
            download.force_download = after.get("forceDownload").and_then(Value::as_bool).unwrap_or(false);
            if let Some(Value::Object(headers)) = after.get("responseHeaders") {
                download.response_headers =
                    headers.iter().filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned()))).collect();
            }
        }
        Ok(download)
    }

    /// `DELETE /files/:filename` (master key, checked by the server), with the file triggers.
    ///
    /// # Errors
    /// 153 when there is no such file or a beforeDelete trigger refuses.
    pub async fn delete_file(&self, caller: &Caller, name: &str) -> ParseResult<()> {
        caller.require_master()?;
        let files = self.files()?;
        let url = crate::output::file_url(&self.config().files_url_prefix, name);
        let info = FileInfo { name, url: Some(&url), size: None, content_type: None };
        self.run_file_trigger(TriggerKind::BeforeDelete, caller, info).await?;
        match files.store.delete(name).await {
            Ok(()) => {
                self.run_file_trigger(TriggerKind::AfterDelete, caller, info).await?;
                Ok(())
            }
            Err(FileError::NotFound | FileError::InvalidName) => {
                Err(ParseError::new(ErrorCode::FileDeleteError, "Could not delete file."))
            }
            Err(error) => Err(file_error(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(check_file_name("photo.png").is_ok());
        assert!(check_file_name("my file~1@x.tar.gz").is_ok());
        for bad in ["", "../x", "a/b", ".hidden", "naïve.txt", "a\nb", "-x"] {
            assert_eq!(check_file_name(bad).unwrap_err().code, ErrorCode::InvalidFileName, "{bad:?}");
        }
        assert_eq!(
            check_extension(extension_of("page.HTML", None).as_deref()).unwrap_err().code,
            ErrorCode::FileSaveError
        );
        assert_eq!(extension_of("notes", Some("text/plain; charset=utf-8")).as_deref(), Some("txt"));
        assert_eq!(
            check_extension(extension_of("page", Some("text/html")).as_deref()).unwrap_err().code,
            ErrorCode::FileSaveError
        );
        assert_eq!(check_file_name(&"a".repeat(129)).unwrap_err().code, ErrorCode::InvalidFileName);
    }
}
