//! The lock that keeps two runs out of one run directory.
//!
//! A run takes `DIR/.burngan.lock` before it touches anything in `DIR`: the file holds the
//! process id and is created exclusively, complete (linked into place from a file written
//! first). A second run that finds it refuses with a
//! message naming the process. A lock left by a process that no longer exists (a run killed
//! with SIGKILL) is stale: the next run takes it over. The lock is removed when the
//! [`RunLock`] is dropped, on success and on error alike.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::AppError;

/// The name of the lock file in a run directory.
pub const LOCK_FILE: &str = ".burngan.lock";

/// Holds a run directory for one run; dropping it releases the directory.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

/// What [`RunLock::acquire`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The directory was free.
    Free,
    /// A stale lock of process `pid`, which no longer runs, was taken over.
    Stale {
        /// The process that had left the lock.
        pid: u32,
    },
}

impl RunLock {
    /// Takes `dir` (created when missing) for this process.
    ///
    /// Fails with [`AppError::Config`] when a running process holds it (the message names
    /// the process and the lock file) and with [`AppError::Io`] when the directory cannot be
    /// created or written.
    pub fn acquire(dir: &Path) -> Result<(Self, Taken), AppError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            AppError::io(
                "cannot create output directory (choose a writable --out)",
                dir,
                e,
            )
        })?;
        let path = dir.join(LOCK_FILE);
        // The lock appears with its content or not at all: the process id is written to a
        // file of this process's own, which is then linked to the lock's name (`link` fails
        // when the name exists, like `O_EXCL`). A process killed half-way leaves at most its
        // own temporary file, never a lock that names nobody.
        let pending = dir.join(format!("{LOCK_FILE}.{}", std::process::id()));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&pending)
            .map_err(|e| AppError::io("cannot write", &pending, e))?;
        writeln!(file, "{}", std::process::id())
            .and_then(|()| file.sync_all())
            .map_err(|e| AppError::io("cannot write", &pending, e))?;
        drop(file);
        let result = Self::link(dir, &pending, path);
        let _ = std::fs::remove_file(&pending);
        result
    }

    /// Links the complete lock file `pending` to `path`, taking over a stale lock.
    fn link(dir: &Path, pending: &Path, path: PathBuf) -> Result<(Self, Taken), AppError> {
        let mut taken = Taken::Free;
        // Two rounds at most: the second after removing a stale lock.
        for _ in 0..2 {
            let linked = std::fs::hard_link(pending, &path).or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    return Err(e);
                }
                // A file system without hard links: create the lock exclusively instead.
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)?;
                writeln!(file, "{}", std::process::id()).and_then(|()| file.sync_all())
            });
            match linked {
                Ok(()) => return Ok((Self { path }, taken)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|text| text.trim().parse::<u32>().ok());
                    match holder {
                        Some(pid) if !process_exists(pid) => {
                            std::fs::remove_file(&path)
                                .map_err(|e| AppError::io("cannot remove stale lock", &path, e))?;
                            taken = Taken::Stale { pid };
                        }
                        Some(pid) => {
                            return Err(AppError::config(format!(
                                "{} is in use by another burngan run (process {pid}, lock file \
                                 {}); wait for it to finish or choose another --out",
                                dir.display(),
                                path.display()
                            )));
                        }
                        None => {
                            return Err(AppError::config(format!(
                                "{} holds a lock file that names no process ({}); if no run \
                                 is writing to this directory, delete that file",
                                dir.display(),
                                path.display()
                            )));
                        }
                    }
                }
                Err(e) => return Err(AppError::io("cannot create", &path, e)),
            }
        }
        Err(AppError::config(format!(
            "{} was locked again while a stale lock was being removed; another run is starting \
             there: choose another --out",
            dir.display()
        )))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` exists. Where `/proc` is not available the holder is assumed to be
/// running (the message then says which file to delete).
fn process_exists(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_directory_is_refused_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (lock, taken) = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(taken, Taken::Free);
        let pid = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(pid.trim(), std::process::id().to_string());
        let error = RunLock::acquire(dir.path()).unwrap_err();
        assert!(error.is_usage_error());
        let message = error.to_string();
        assert!(
            message.contains("in use by another burngan run")
                && message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );
        drop(lock);
        assert!(!dir.path().join(LOCK_FILE).exists());
        let (_again, taken) = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(taken, Taken::Free);
    }

    #[test]
    fn a_stale_lock_is_taken_over_and_a_garbled_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its id is free (until the system reuses it).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), format!("{dead}\n")).unwrap();
        let (lock, taken) = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(taken, Taken::Stale { pid: dead });
        drop(lock);
        std::fs::write(dir.path().join(LOCK_FILE), "not a pid").unwrap();
        let message = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("names no process") && message.contains("delete"),
            "{message}"
        );
    }
}
