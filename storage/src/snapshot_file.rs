//! Snapshot files: each group's current snapshot is one file in `<data dir>/snapshots`,
//! written whole to a temporary name, fsynced and renamed over the old one, so a crash leaves
//! either the old snapshot or the new one, never a mix. A follower assembles a snapshot sent in
//! chunks under its own temporary name and renames it into place the same way.
//!
//! The file holds the Raft metadata (opaque bytes to this module) and the state image
//! (`snapshot.rs`), and ends with a crc32 of everything before it:
//! magic ‖ meta length u32 LE ‖ meta ‖ image ‖ crc32 u32 LE.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::log_store::GroupId;

const MAGIC: &[u8; 8] = b"FLOTSNF1";
const HEADER_LEN: usize = MAGIC.len() + 4;

/// A snapshot file opened for reading, and where it lies (installing a received snapshot
/// renames it into place).
#[derive(Debug)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub file: File,
}

impl SnapshotFile {
    pub fn open(path: PathBuf) -> io::Result<SnapshotFile> {
        let file = File::open(&path)?;
        Ok(SnapshotFile { path, file })
    }

    pub fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Reads the metadata from the header without reading the rest (the checksum is checked by
    /// `read_verified` before anything is installed).
    pub fn read_meta(&mut self) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; HEADER_LEN];
        self.file.read_exact(&mut header)?;
        let meta_len = parse_header(&header, self.len()?)?;
        let mut meta = vec![0u8; meta_len];
        self.file.read_exact(&mut meta)?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(meta)
    }

    /// Reads the whole file and checks its checksum.
    pub fn read_verified(&mut self) -> io::Result<Verified> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(self.len()? as usize);
        self.file.read_to_end(&mut bytes)?;
        self.file.seek(SeekFrom::Start(0))?;
        split_verified(bytes)
    }

    /// Reads up to `max` bytes at `offset` (a chunk to send).
    pub fn read_chunk(&mut self, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        self.file.seek(SeekFrom::Start(offset))?;
        let mut chunk = Vec::with_capacity(max);
        (&mut self.file).take(max as u64).read_to_end(&mut chunk)?;
        Ok(chunk)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("snapshot file: {what}"))
}

fn parse_header(header: &[u8], file_len: u64) -> io::Result<usize> {
    if &header[..MAGIC.len()] != MAGIC {
        return Err(invalid("not a Flotilla snapshot file"));
    }
    let meta_len = u32::from_le_bytes(header[MAGIC.len()..].try_into().expect("4 bytes")) as usize;
    if (HEADER_LEN + meta_len + 4) as u64 > file_len {
        return Err(invalid("truncated"));
    }
    Ok(meta_len)
}

/// A snapshot file's contents, checksum checked.
pub struct Verified {
    bytes: Vec<u8>,
    meta_end: usize,
}

impl Verified {
    pub fn meta(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..self.meta_end]
    }

    pub fn image(&self) -> &[u8] {
        &self.bytes[self.meta_end..self.bytes.len() - 4]
    }
}

/// Checks a whole file's trailing checksum and finds its parts (without copying the image).
fn split_verified(bytes: Vec<u8>) -> io::Result<Verified> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(invalid("truncated"));
    }
    let meta_len = parse_header(&bytes[..HEADER_LEN], bytes.len() as u64)?;
    let body_len = bytes.len() - 4;
    let crc = u32::from_le_bytes(bytes[body_len..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body_len]) != crc {
        return Err(invalid("checksum mismatch"));
    }
    Ok(Verified { bytes, meta_end: HEADER_LEN + meta_len })
}

/// Checks a received file's checksum, reading it a piece at a time (not the whole image into
/// memory: installing it reads it whole again anyway).
pub fn verify(path: &Path) -> io::Result<()> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < (HEADER_LEN + 4) as u64 {
        return Err(invalid("truncated"));
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header)?;
    parse_header(&header, len)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header);
    let mut left = len - (HEADER_LEN + 4) as u64;
    let mut buffer = vec![0u8; VERIFY_BUFFER_BYTES.min(left as usize)];
    while left > 0 {
        let piece = &mut buffer[..left.min(VERIFY_BUFFER_BYTES as u64) as usize];
        file.read_exact(piece)?;
        hasher.update(piece);
        left -= piece.len() as u64;
    }
    let mut crc = [0u8; 4];
    file.read_exact(&mut crc)?;
    if hasher.finalize() != u32::from_le_bytes(crc) {
        return Err(invalid("checksum mismatch"));
    }
    Ok(())
}

const VERIFY_BUFFER_BYTES: usize = 1 << 20;

/// The node's snapshot directory.
#[derive(Debug, Clone)]
pub struct SnapshotDir {
    dir: PathBuf,
}

impl SnapshotDir {
    /// Opens (creating) `<data dir>/snapshots` and removes leftovers of interrupted writes and
    /// transfers.
    pub fn open(data_dir: &Path) -> io::Result<SnapshotDir> {
        let dir = data_dir.join("snapshots");
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "tmp" || ext == "incoming") {
                fs::remove_file(&path)?;
            }
        }
        Ok(SnapshotDir { dir })
    }

    pub fn current_path(&self, group: GroupId) -> PathBuf {
        self.dir.join(format!("group-{group}.snap"))
    }

    /// Where a snapshot being received from the leader is assembled.
    pub fn incoming_path(&self, group: GroupId) -> PathBuf {
        self.dir.join(format!("group-{group}.incoming"))
    }

    /// The group's current snapshot, if it has one.
    pub fn current(&self, group: GroupId) -> io::Result<Option<SnapshotFile>> {
        match SnapshotFile::open(self.current_path(group)) {
            Ok(file) => Ok(Some(file)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Writes a new current snapshot atomically (temp file, fsync, rename, fsync of the
    /// directory): once this returns, a crash cannot lose it.
    pub fn write(&self, group: GroupId, meta: &[u8], image: &[u8]) -> io::Result<SnapshotFile> {
        let mut writer = self.begin_write(group, meta)?;
        writer.write(image)?;
        writer.commit()
    }

    /// Starts writing a new snapshot of `group` whose image arrives in parts (`SnapshotWriter`):
    /// a snapshot being built is written as its pieces fill, never held whole in memory.
    pub fn begin_write(&self, group: GroupId, meta: &[u8]) -> io::Result<SnapshotWriter> {
        let temp = self.dir.join(format!("group-{group}.tmp"));
        let file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
        let mut writer = SnapshotWriter {
            dir: self.clone(),
            group,
            temp,
            file: Some(file),
            hasher: crc32fast::Hasher::new(),
            image_len: 0,
        };
        let mut header = Vec::with_capacity(HEADER_LEN + meta.len());
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        header.extend_from_slice(meta);
        writer.put(&header)?;
        Ok(writer)
    }

    /// Makes the (complete, synced) file at `from` the group's current snapshot.
    pub fn install(&self, group: GroupId, from: &Path) -> io::Result<()> {
        let current = self.current_path(group);
        if from != current {
            fs::rename(from, &current)?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Starts assembling a snapshot received in chunks (replacing any earlier partial one).
    pub fn begin_incoming(&self, group: GroupId) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.incoming_path(group))
    }
}

/// A snapshot file being written under its temporary name (`SnapshotDir::begin_write`):
/// `write` appends image bytes, `commit` seals, syncs and installs it. Dropped uncommitted,
/// the temporary file is removed and the current snapshot stays.
#[derive(Debug)]
pub struct SnapshotWriter {
    dir: SnapshotDir,
    group: GroupId,
    temp: PathBuf,
    /// None once committed.
    file: Option<File>,
    hasher: crc32fast::Hasher,
    image_len: u64,
}

impl SnapshotWriter {
    /// Appends the next bytes of the image.
    pub fn write(&mut self, image: &[u8]) -> io::Result<()> {
        self.put(image)?;
        self.image_len += image.len() as u64;
        Ok(())
    }

    /// Image bytes written so far.
    pub fn image_len(&self) -> u64 {
        self.image_len
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.file.as_mut().expect("not committed").write_all(bytes)
    }

    /// Ends the file with its checksum, makes it durable and the group's current snapshot.
    pub fn commit(mut self) -> io::Result<SnapshotFile> {
        let mut file = self.file.take().expect("not committed");
        file.write_all(&self.hasher.clone().finalize().to_le_bytes())?;
        file.sync_all()?;
        drop(file);
        self.dir.install(self.group, &self.temp)?;
        SnapshotFile::open(self.dir.current_path(self.group))
    }
}

impl Drop for SnapshotWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flotilla-snapfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_written_snapshot_reads_back_and_replaces_the_old_one() {
        let dir = temp_dir("roundtrip");
        let snapshots = SnapshotDir::open(&dir).unwrap();
        assert!(snapshots.current(1).unwrap().is_none());
        snapshots.write(1, b"meta-1", b"image-1").unwrap();
        let mut file = snapshots.write(1, b"meta-2", &vec![7u8; 5000]).unwrap();
        assert_eq!(file.read_meta().unwrap(), b"meta-2");
        let read = file.read_verified().unwrap();
        assert_eq!((read.meta(), read.image()), (&b"meta-2"[..], &[7u8; 5000][..]));
        let mut reopened = SnapshotDir::open(&dir).unwrap().current(1).unwrap().unwrap();
        assert_eq!(reopened.read_verified().unwrap().meta(), b"meta-2");
        assert!(snapshots.current(2).unwrap().is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    /// A snapshot written in parts is the file written whole; one dropped before its commit
    /// leaves no temporary file and the current snapshot as it was.
    #[test]
    fn a_snapshot_written_in_parts_commits_whole_or_not_at_all() {
        let dir = temp_dir("parts");
        let snapshots = SnapshotDir::open(&dir).unwrap();
        let image: Vec<u8> = (0..3000u32).flat_map(|i| i.to_le_bytes()).collect();
        let whole = fs::read(snapshots.write(1, b"meta", &image).unwrap().path).unwrap();
        let mut writer = snapshots.begin_write(1, b"meta").unwrap();
        for part in image.chunks(1000) {
            writer.write(part).unwrap();
        }
        assert_eq!(writer.image_len(), image.len() as u64);
        let parts = writer.commit().unwrap();
        assert_eq!(fs::read(&parts.path).unwrap(), whole);
        let mut abandoned = snapshots.begin_write(1, b"other").unwrap();
        abandoned.write(b"half an image").unwrap();
        let temp = dir.join("snapshots").join("group-1.tmp");
        assert!(temp.exists());
        drop(abandoned);
        assert!(!temp.exists());
        let mut current = snapshots.current(1).unwrap().unwrap();
        let read = current.read_verified().unwrap();
        assert_eq!((read.meta(), read.image()), (&b"meta"[..], &image[..]));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn chunks_reassemble_into_an_installable_file() {
        let dir = temp_dir("chunks");
        let snapshots = SnapshotDir::open(&dir).unwrap();
        let image: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut source = snapshots.write(1, b"m", &image).unwrap();
        let total = source.len().unwrap();
        let mut incoming = snapshots.begin_incoming(2).unwrap();
        let mut offset = 0;
        while offset < total {
            let chunk = source.read_chunk(offset, 4096).unwrap();
            incoming.write_all(&chunk).unwrap();
            offset += chunk.len() as u64;
        }
        incoming.sync_all().unwrap();
        verify(&snapshots.incoming_path(2)).unwrap();
        snapshots.install(2, &snapshots.incoming_path(2)).unwrap();
        let mut installed = snapshots.current(2).unwrap().unwrap();
        let read = installed.read_verified().unwrap();
        assert_eq!((read.meta(), read.image()), (&b"m"[..], &image[..]));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn damage_and_truncation_are_detected() {
        let dir = temp_dir("damage");
        let snapshots = SnapshotDir::open(&dir).unwrap();
        snapshots.write(1, b"meta", &[1u8; 100]).unwrap();
        let path = snapshots.current_path(1);
        let good = fs::read(&path).unwrap();
        let mut flipped = good.clone();
        flipped[50] ^= 1;
        fs::write(&path, &flipped).unwrap();
        assert!(verify(&path).is_err());
        fs::write(&path, &good[..good.len() - 10]).unwrap();
        assert!(verify(&path).is_err());
        assert!(SnapshotFile::open(path.clone()).unwrap().read_verified().is_err());
        fs::write(&path, &good[..HEADER_LEN + 3]).unwrap();
        assert!(verify(&path).is_err());
        // `verify` reads a piece at a time: a file of several pieces, damaged in each of them
        // and in its checksum.
        let image: Vec<u8> = (0..(5 * VERIFY_BUFFER_BYTES / 2) as u32).map(|i| (i % 251) as u8).collect();
        snapshots.write(1, b"meta", &image).unwrap();
        let good = fs::read(&path).unwrap();
        verify(&path).unwrap();
        for at in [HEADER_LEN + 1, VERIFY_BUFFER_BYTES + 7, 2 * VERIFY_BUFFER_BYTES + 100, good.len() - 1] {
            let mut flipped = good.clone();
            flipped[at] ^= 0x40;
            fs::write(&path, &flipped).unwrap();
            assert!(verify(&path).is_err(), "a flip at {at} went unnoticed");
        }
        // A leftover partial transfer is removed when the directory is opened.
        snapshots.begin_incoming(1).unwrap().write_all(b"partial").unwrap();
        SnapshotDir::open(&dir).unwrap();
        assert!(!snapshots.incoming_path(1).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
