//! Files and the file system, without blocking the run loop (Trio's
//! `trio.open_file`, `trio.wrap_file` and the methods of `trio.Path`).
//!
//! Operating systems offer no general non-blocking file I/O, so — like Trio, and
//! like tokio — every operation here is a blocking `std::fs` call run on a worker
//! thread with [`to_thread::run_sync`](crate::to_thread::run_sync), under the
//! run's default thread limiter
//! ([`current_default_thread_limiter`](crate::to_thread::current_default_thread_limiter)).
//! The functions mirror `std::fs` one for one and return [`io::Result`], so
//! porting synchronous code means adding `.await`. Their errors convert into
//! [`trio::Error`](crate::Error) with `?`. The exception: on Linux, when the
//! run's reactor is io_uring, an open file's `read` and `write` are ring
//! operations, with no thread trip (see [`AsyncFile`]).
//!
//! Unlike std's, an error names the path it is about — `opening "config.toml":
//! no such file or directory (os error 2)` — and keeps std's
//! [`io::ErrorKind`]; the OS error itself is its
//! [`source`](std::error::Error::source) (so [`io::Error::raw_os_error`] of the
//! error returned is `None`: ask the source).
//!
//! ```
//! use trio::abc::AsyncResource;
//! # trio::run(async {
//! # let dir = std::env::temp_dir().join(format!("trio-doc-fs-{}", std::process::id()));
//! trio::fs::create_dir_all(&dir).await?;
//! let path = dir.join("greeting.txt");
//! trio::fs::write(&path, "hello\nworld\n").await?;
//!
//! let mut f = trio::fs::AsyncFile::open(&path).await?;
//! let mut lines = f.lines();
//! while let Some(line) = lines.next_line().await? {
//!     println!("{line}");
//! }
//! f.aclose().await?;
//! trio::fs::remove_dir_all(&dir).await?;
//! # Ok(()) }).unwrap();
//! ```
//!
//! # Cancellation
//!
//! As in Trio — whose `Path` and file methods are `to_thread.run_sync` calls
//! without `abandon_on_cancel` — every function here is a checkpoint *before* its
//! worker thread starts: cancelled there, it did nothing and returns
//! `Err(Cancelled)` (inside an [`io::Error`], which a
//! [`CancelScope`](crate::CancelScope) recognises). Once the thread has started
//! the call is not cancellable: the operation completes and its result is
//! returned, and the task's next checkpoint reports the cancellation. Abandoning
//! the thread instead would leave the caller not knowing whether a write, rename
//! or removal happened. (Waiting for a thread token of the default limiter is
//! cancellable too, as a part of the first checkpoint.)
//!
//! Code that wants to stop waiting on a slow file system regardless can call
//! `std::fs` itself through
//! [`to_thread::Builder::abandon_on_cancel`](crate::to_thread::Builder::abandon_on_cancel).

mod file;

pub use file::{AsyncFile, Lines, open_file, wrap_file};

use std::fs::{DirEntry, Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

/// Runs a blocking `std::fs` call on a worker thread, as every function here does.
async fn blocking<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match crate::to_thread::run_sync(f).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::from(e)),
    }
}

/// [`blocking`] for a call on `path`: its error names the path (see
/// [`PathError`]).
async fn on_path<T, F>(doing: &'static str, path: impl AsRef<Path>, f: F) -> io::Result<T>
where
    F: FnOnce(&Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let path = path.as_ref().to_owned();
    blocking(move || f(&path).map_err(|e| PathError::wrap(doing, &path, None, e))).await
}

/// [`on_path`] for a call on two paths: "`doing` `first` to `second`".
async fn on_paths<T, F>(
    doing: &'static str,
    first: impl AsRef<Path>,
    second: impl AsRef<Path>,
    f: F,
) -> io::Result<T>
where
    F: FnOnce(&Path, &Path) -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let (first, second) = (first.as_ref().to_owned(), second.as_ref().to_owned());
    blocking(move || {
        f(&first, &second).map_err(|e| PathError::wrap(doing, &first, Some(&second), e))
    })
    .await
}

/// The error of a file system call, naming its path: `reading
/// "/etc/missing.conf": no such file or directory (os error 2)`. The
/// [`io::Error`] around it keeps the OS error's [`kind`](io::Error::kind); the OS
/// error itself is its [`source`](std::error::Error::source).
#[derive(Debug)]
struct PathError {
    doing: &'static str,
    path: PathBuf,
    to: Option<PathBuf>,
    source: io::Error,
}

impl PathError {
    fn wrap(doing: &'static str, path: &Path, to: Option<&Path>, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            PathError {
                doing,
                path: path.to_owned(),
                to: to.map(Path::to_owned),
                source: e,
            },
        )
    }
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.doing, self.path)?;
        if let Some(to) = &self.to {
            write!(f, " to {to:?}")?;
        }
        let why = self.source.to_string();
        write!(f, ": {}", crate::error::mid_sentence(&why))
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Reads a whole file into bytes (as [`std::fs::read`]).
///
/// # Errors
///
/// The errors of [`std::fs::read`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards (see the
/// [module docs](self#cancellation)).
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-read-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("data.bin");
/// trio::fs::write(&path, [0xde, 0xad]).await?;
/// assert_eq!(trio::fs::read(&path).await?, [0xde, 0xad]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    on_path("reading", path, move |p| std::fs::read(p)).await
}

/// Reads a whole file into a string (as [`std::fs::read_to_string`]).
///
/// # Errors
///
/// The errors of [`std::fs::read_to_string`] (among them
/// [`io::ErrorKind::InvalidData`] if it is not UTF-8); `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-read-to-string-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("config.toml");
/// trio::fs::write(&path, "answer = 42\n").await?;
/// assert_eq!(trio::fs::read_to_string(&path).await?, "answer = 42\n");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    on_path("reading", path, move |p| std::fs::read_to_string(p)).await
}

/// Writes `contents` as the whole file, creating or truncating it (as
/// [`std::fs::write`]).
///
/// # Errors
///
/// The errors of [`std::fs::write`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was written); not
/// cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-write-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("out.txt");
/// trio::fs::write(&path, "first").await?;
/// trio::fs::write(&path, b"second").await?; // replaces
/// assert_eq!(trio::fs::read_to_string(&path).await?, "second");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    on_path("writing", path, move |p| std::fs::write(p, contents)).await
}

/// The entries of a directory (as [`std::fs::read_dir`]), read all at once into a
/// `Vec`, in the order the OS gives them (as Trio's `Path.iterdir`).
///
/// # Errors
///
/// The errors of [`std::fs::read_dir`] and of reading an entry; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-read-dir-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::write(dir.join("a.txt"), "").await?;
/// trio::fs::create_dir(dir.join("sub")).await?;
/// let mut names: Vec<String> = trio::fs::read_dir(&dir).await?
///     .iter()
///     .map(|e| e.file_name().to_string_lossy().into_owned())
///     .collect();
/// names.sort();
/// assert_eq!(names, ["a.txt", "sub"]);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    on_path("reading the directory", path, move |p| {
        std::fs::read_dir(p)?.collect()
    })
    .await
}

/// The metadata of a path, following symlinks (as [`std::fs::metadata`]).
///
/// # Errors
///
/// The errors of [`std::fs::metadata`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert!(trio::fs::metadata(".").await?.is_dir());
/// # Ok(()) }).unwrap();
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path("reading the metadata of", path, move |p| {
        std::fs::metadata(p)
    })
    .await
}

/// The metadata of a path, not following a final symlink (as
/// [`std::fs::symlink_metadata`]).
///
/// # Errors
///
/// The errors of [`std::fs::symlink_metadata`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-symlink-metadata-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # #[cfg(unix)] {
/// trio::fs::write(dir.join("target"), "x").await?;
/// trio::fs::symlink(dir.join("target"), dir.join("link")).await?;
/// assert!(trio::fs::symlink_metadata(dir.join("link")).await?.file_type().is_symlink());
/// assert!(trio::fs::metadata(dir.join("link")).await?.is_file());
/// # }
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path("reading the metadata of", path, move |p| {
        std::fs::symlink_metadata(p)
    })
    .await
}

/// Creates a directory; its parent must exist (as [`std::fs::create_dir`]).
///
/// # Errors
///
/// The errors of [`std::fs::create_dir`] (among them
/// [`io::ErrorKind::AlreadyExists`]); `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was created); not
/// cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-create-dir-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::create_dir(dir.join("new")).await?;
/// let again = trio::fs::create_dir(dir.join("new")).await.unwrap_err();
/// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("creating the directory", path, move |p| {
        std::fs::create_dir(p)
    })
    .await
}

/// Creates a directory and any missing parents (as [`std::fs::create_dir_all`]).
///
/// # Errors
///
/// The errors of [`std::fs::create_dir_all`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-create-dir-all-{}", std::process::id()));
/// trio::fs::create_dir_all(dir.join("a/b/c")).await?;
/// assert!(trio::fs::metadata(dir.join("a/b/c")).await?.is_dir());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("creating the directory", path, move |p| {
        std::fs::create_dir_all(p)
    })
    .await
}

/// Removes a file (as [`std::fs::remove_file`]).
///
/// # Errors
///
/// The errors of [`std::fs::remove_file`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was removed); not
/// cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-remove-file-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("gone");
/// trio::fs::write(&path, "").await?;
/// trio::fs::remove_file(&path).await?;
/// assert!(!trio::fs::exists(&path).await?);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("removing", path, move |p| std::fs::remove_file(p)).await
}

/// Removes an empty directory (as [`std::fs::remove_dir`]).
///
/// # Errors
///
/// The errors of [`std::fs::remove_dir`] (among them: the directory is not
/// empty); `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-remove-dir-{}", std::process::id()));
/// trio::fs::create_dir_all(&dir).await?;
/// trio::fs::remove_dir(&dir).await?;
/// assert!(!trio::fs::exists(&dir).await?);
/// # Ok(()) }).unwrap();
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("removing the directory", path, move |p| {
        std::fs::remove_dir(p)
    })
    .await
}

/// Removes a directory and everything in it (as [`std::fs::remove_dir_all`]), in
/// one trip to a worker thread.
///
/// # Errors
///
/// The errors of [`std::fs::remove_dir_all`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was removed); not
/// cancellable afterwards — the whole tree is removed.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-remove-dir-all-{}", std::process::id()));
/// trio::fs::create_dir_all(dir.join("x/y")).await?;
/// trio::fs::write(dir.join("x/y/file"), "z").await?;
/// trio::fs::remove_dir_all(&dir).await?;
/// assert!(!trio::fs::exists(&dir).await?);
/// # Ok(()) }).unwrap();
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_path("removing the directory", path, move |p| {
        std::fs::remove_dir_all(p)
    })
    .await
}

/// Renames a file or directory, replacing `to` if it is a file (as
/// [`std::fs::rename`]).
///
/// # Errors
///
/// The errors of [`std::fs::rename`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was renamed); not
/// cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-rename-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::write(dir.join("draft"), "text").await?;
/// trio::fs::rename(dir.join("draft"), dir.join("final")).await?;
/// assert_eq!(trio::fs::read_to_string(dir.join("final")).await?, "text");
/// assert!(!trio::fs::exists(dir.join("draft")).await?);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    on_paths("renaming", from, to, move |a, b| std::fs::rename(a, b)).await
}

/// Copies a file's contents and permissions; returns the number of bytes copied
/// (as [`std::fs::copy`]).
///
/// # Errors
///
/// The errors of [`std::fs::copy`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing was copied); not
/// cancellable afterwards — the whole file is copied.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-copy-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::write(dir.join("a"), "12345").await?;
/// assert_eq!(trio::fs::copy(dir.join("a"), dir.join("b")).await?, 5);
/// assert_eq!(trio::fs::read(dir.join("b")).await?, b"12345");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    on_paths("copying", from, to, move |a, b| std::fs::copy(a, b)).await
}

/// The absolute path with every symlink resolved (as [`std::fs::canonicalize`];
/// Trio's `Path.resolve(strict=True)`).
///
/// # Errors
///
/// The errors of [`std::fs::canonicalize`] (among them: the path does not
/// exist); `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// let here = trio::fs::canonicalize(".").await?;
/// assert!(here.is_absolute());
/// assert_eq!(here, std::env::current_dir()?.canonicalize()?);
/// # Ok(()) }).unwrap();
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    on_path("resolving", path, move |p| std::fs::canonicalize(p)).await
}

/// Creates a hard link `link` to the file `original` (as [`std::fs::hard_link`]).
///
/// # Errors
///
/// The errors of [`std::fs::hard_link`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-hard-link-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::write(dir.join("original"), "shared").await?;
/// trio::fs::hard_link(dir.join("original"), dir.join("alias")).await?;
/// trio::fs::remove_file(dir.join("original")).await?;
/// assert_eq!(trio::fs::read_to_string(dir.join("alias")).await?, "shared");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    on_paths("hard-linking", link, original, move |l, o| {
        std::fs::hard_link(o, l)
    })
    .await
}

/// Creates a symbolic link `link` pointing to `original` (as
/// `std::os::unix::fs::symlink`; Unix only).
///
/// # Errors
///
/// The errors of `std::os::unix::fs::symlink`; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-symlink-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::symlink("target-that-need-not-exist", dir.join("link")).await?;
/// assert_eq!(
///     trio::fs::read_link(dir.join("link")).await?,
///     std::path::Path::new("target-that-need-not-exist"),
/// );
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    on_paths("symlinking", link, original, move |l, o| {
        std::os::unix::fs::symlink(o, l)
    })
    .await
}

/// Where a symbolic link points (as [`std::fs::read_link`]).
///
/// # Errors
///
/// The errors of [`std::fs::read_link`] (among them: not a symlink);
/// `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-read-link-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// trio::fs::write(dir.join("plain"), "").await?;
/// let err = trio::fs::read_link(dir.join("plain")).await.unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput); // not a link
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    on_path("reading the symlink", path, move |p| std::fs::read_link(p)).await
}

/// Changes the permissions of a path (as [`std::fs::set_permissions`]).
///
/// # Errors
///
/// The errors of [`std::fs::set_permissions`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts (cancelled, nothing changed); not
/// cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// # let dir = std::env::temp_dir().join(format!("trio-doc-fs-set-permissions-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("locked");
/// trio::fs::write(&path, "").await?;
/// let mut perms = trio::fs::metadata(&path).await?.permissions();
/// perms.set_readonly(true);
/// trio::fs::set_permissions(&path, perms).await?;
/// assert!(trio::fs::metadata(&path).await?.permissions().readonly());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }).unwrap();
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    on_path("setting the permissions of", path, move |p| {
        std::fs::set_permissions(p, perm)
    })
    .await
}

/// Whether a path exists, following symlinks (as [`std::fs::exists`]; Trio's
/// `Path.exists`). Unlike `Path::exists`, an error other than "not found" (say,
/// permission denied on a parent) is reported, not taken for "no".
///
/// # Errors
///
/// The errors of [`std::fs::exists`]; `Cancelled`.
///
/// # Cancellation
///
/// A checkpoint before the thread starts; not cancellable afterwards.
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert!(trio::fs::exists(".").await?);
/// assert!(!trio::fs::exists("/no/such/path/here").await?);
/// # Ok(()) }).unwrap();
/// ```
pub async fn exists(path: impl AsRef<Path>) -> io::Result<bool> {
    on_path("looking for", path, move |p| std::fs::exists(p)).await
}

/// The same as [`exists`] (tokio's name, after [`Path::try_exists`]).
///
/// # Errors
///
/// As [`exists`].
///
/// # Cancellation
///
/// As [`exists`].
///
/// # Examples
///
/// ```
/// # trio::run(async {
/// assert!(trio::fs::try_exists(".").await?);
/// # Ok(()) }).unwrap();
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    exists(path).await
}
