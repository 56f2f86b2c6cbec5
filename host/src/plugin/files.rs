//! Reading a plugin's files from the watched directory. Only regular files
//! (a symlink to one is fine) of bounded size are read: a FIFO or device
//! dropped there, or a symlink to one, is refused without blocking (the
//! file is opened non-blocking and checked on the open handle, so it
//! cannot be swapped between the check and the read), and so is a file
//! larger than the cap. Blocking: call it off the async runtime.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

/// Largest component file read.
pub(crate) const MAX_WASM_BYTES: u64 = 128 << 20;

/// Largest manifest file read.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 << 10;

/// Why a plugin file was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// Not a regular file.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
    /// Larger than the cap.
    #[error("{size} bytes, more than the {cap} read")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The operating system refused.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The bytes of `path`, or `None` when there is no such file.
pub(crate) fn read(path: &Path, cap: u64) -> Result<Option<Vec<u8>>, FileError> {
    let file = match open_nonblocking(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(FileError::NotRegular(describe(&kind)));
    }
    if meta.len() > cap {
        return Err(FileError::TooLarge {
            size: meta.len(),
            cap,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // The file may grow while being read; never past the cap.
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(FileError::TooLarge {
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(Some(bytes))
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_and_symlinks_to_them_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.wasm");
        std::fs::write(&file, b"abc").unwrap();
        assert_eq!(read(&file, 10).unwrap().unwrap(), b"abc");
        #[cfg(unix)]
        {
            let link = dir.path().join("b.wasm");
            std::os::unix::fs::symlink(&file, &link).unwrap();
            assert_eq!(read(&link, 10).unwrap().unwrap(), b"abc");
        }
        assert!(read(&dir.path().join("none.wasm"), 10).unwrap().is_none());
    }

    #[test]
    fn oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("big.wasm");
        std::fs::write(&file, vec![0u8; 11]).unwrap();
        assert!(matches!(
            read(&file, 10),
            Err(FileError::TooLarge { size: 11, cap: 10 })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.wasm");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        assert!(matches!(
            read(&fifo, 10),
            Err(FileError::NotRegular("a FIFO"))
        ));
        let link = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(
            read(&link, 10),
            Err(FileError::NotRegular("a device"))
        ));
        assert!(matches!(
            read(dir.path(), 10),
            Err(FileError::NotRegular("a directory")) | Err(FileError::Io(_))
        ));
    }
}
