//! Blob reads from pack files with a delta base cache like git's.
//!
//! gix resolves a deltified object by decompressing its whole delta chain down to the full
//! object at its root, and caches only the object asked for. git's `unpack_entry()` also
//! keeps every base it passes on the way (`add_delta_base_cache()`), so the next version of
//! the same file, a delta against one of them, costs one delta instead of the chain and its
//! full root again. In `git log` order the versions of a file arrive one after another, and
//! decompressing the roots again was about a fifth of the extract stage's CPU time.
//!
//! [`Packs`] opens the repository's pack files once and holds the cache, both shared by the
//! extraction threads (they work on different stretches of the history, but the files they
//! read have the same bases); [`PackedObjects`] is one thread's reader over them, and falls back to
//! the repository's object database for anything not in those packs (loose objects,
//! alternates, packs written after the start). Objects are checked as gix checks them: delta
//! sizes must match, a cycle or an out-of-range copy is an error, never a wrong answer.

use std::cell::RefCell;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use gix::ObjectId;
use gix::error::{ErrorExt as _, ResultExt as _, message};
use gix::objs::{Data, Kind};
use gix::odb::pack;

/// The pack files of a repository's object directory, memory-mapped once, and the cache of
/// objects decoded from them.
#[derive(Clone)]
pub struct Packs {
    bundles: Arc<[pack::Bundle]>,
    /// The object directory, for loose objects.
    objects: Arc<std::path::Path>,
    cache: Arc<Mutex<Cache>>,
}

type Cache = clru::CLruCache<Key, Object, foldhash::fast::RandomState, BySize>;

/// What the cache keeps objects by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Packed(Location),
    Loose(ObjectId),
}

/// A decoded object, shared by the cache and its readers.
pub type Object = (Kind, Arc<Vec<u8>>);

impl std::fmt::Debug for Packs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packs")
            .field("packs", &self.bundles.len())
            .finish()
    }
}

fn new_cache(cache_bytes: usize) -> Cache {
    let capacity = NonZeroUsize::new(cache_bytes.max(1)).expect("at least one byte");
    clru::CLruCache::with_config(
        clru::CLruCacheConfig::new(capacity)
            .with_hasher(foldhash::fast::RandomState::default())
            .with_scale(BySize),
    )
}

/// Where an object is: which pack, and its offset in it.
type Location = (u32, u64);

impl Packs {
    /// Opens every `objects/pack/*.idx` with its pack, with a cache that keeps up to
    /// `cache_bytes` of decoded objects. A pack that cannot be opened is left out: its objects
    /// are read through the object database instead.
    pub fn open(repo: &gix::Repository, cache_bytes: usize) -> Self {
        let hash = repo.object_hash();
        let objects: Arc<std::path::Path> = repo.objects.store_ref().path().into();
        let dir = objects.join("pack");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "idx"))
            .collect();
        paths.sort();
        let bundles = paths
            .iter()
            .filter_map(|path| pack::Bundle::at(path, hash).ok())
            .collect();
        Self {
            bundles,
            objects,
            cache: Arc::new(Mutex::new(new_cache(cache_bytes))),
        }
    }

    /// The same packs with a cache of their own of `cache_bytes`.
    pub fn with_own_cache(&self, cache_bytes: usize) -> Self {
        Self {
            bundles: self.bundles.clone(),
            objects: self.objects.clone(),
            cache: Arc::new(Mutex::new(new_cache(cache_bytes))),
        }
    }

    fn cached(&self, key: Key) -> Option<Object> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(&key).cloned()
    }

    fn keep(&self, key: Key, object: Object) {
        let weight = object.1.len();
        let mut evicted = Vec::new();
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            // Objects larger than the whole cache are not kept.
            if weight >= cache.capacity() {
                return;
            }
            // Make room as `put_with_weight` would, but free what leaves after unlocking:
            // freeing large objects under the lock made the other threads wait for it.
            while cache.len() + cache.weight() + weight >= cache.capacity() {
                match cache.pop_back() {
                    Some(entry) => evicted.push(entry),
                    None => break,
                }
            }
            let _ = cache.put_with_weight(key, object);
        }
        drop(evicted);
    }

    /// The loose object `id`, if its file exists. Read into memory rather than mapped as gix
    /// does: unmapping in a process with several threads makes the kernel flush every
    /// core's TLB, which took half the extraction time of a young repository (mostly loose
    /// objects).
    fn loose(
        &self,
        id: &gix::oid,
        inflate: &mut gix::zlib::Inflate,
    ) -> gix::Result<Option<Object>> {
        if let Some(object) = self.cached(Key::Loose(id.to_owned())) {
            return Ok(Some(object));
        }
        let hex = id.to_hex().to_string();
        let path = self.objects.join(&hex[..2]).join(&hex[2..]);
        let compressed = match std::fs::read(&path) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            read => read.or_raise(|| message("a loose object could not be read"))?,
        };
        // `<kind> <size>\0` and the start of the contents.
        let mut head = [0u8; 64];
        inflate.reset();
        let (status, consumed, written) = inflate.prefix(&compressed, &mut head)?;
        if status == gix::zlib::Status::BufError {
            return Err(corrupt("a loose object is not a zlib stream"));
        }
        let (kind, size, header) = gix::objs::decode::loose_header(&head[..written])?;
        let size = usize::try_from(size).map_err(|_| corrupt("a loose object is too large"))?;
        let mut data = Vec::new();
        let read = if status == gix::zlib::Status::StreamEnd {
            data.extend_from_slice(&head[header..written]);
            data.len()
        } else {
            inflate.rest(
                &compressed[consumed..],
                &head[..written],
                header,
                &mut data,
                size,
            )?
        };
        if read != size || data.len() != size {
            return Err(corrupt("a loose object's size differs from its header"));
        }
        let object = (kind, Arc::new(data));
        self.keep(Key::Loose(id.to_owned()), object.clone());
        Ok(Some(object))
    }

    fn locate(&self, id: &gix::oid) -> Option<Location> {
        self.bundles.iter().enumerate().find_map(|(at, bundle)| {
            let index = bundle.index.lookup(id)?;
            Some((at as u32, bundle.index.pack_offset_at_index(index)))
        })
    }
}

/// Bytes of decoded objects the extraction keeps at most, for all its threads: git's
/// `core.deltaBaseCacheLimit` (96 MiB) for each of two. On git/git, 384 MiB would save
/// another tenth of the time, but the peak RSS would pass 1 GiB.
pub const CACHE_BYTES: usize = 192 * 1024 * 1024;

/// The cache for a process whose memory is limited to `limit` bytes (its cgroup's, in a pod):
/// at most a quarter of it, so that a 512 MiB runner keeps 128 MiB, but never less than
/// 16 MiB; [`CACHE_BYTES`] without a limit.
pub fn cache_bytes_within(limit: Option<u64>) -> usize {
    const FLOOR: usize = 16 * 1024 * 1024;
    match limit {
        Some(limit) => usize::try_from(limit / 4)
            .unwrap_or(usize::MAX)
            .clamp(FLOOR, CACHE_BYTES),
        None => CACHE_BYTES,
    }
}

/// [`cache_bytes_within`] this process's memory limit: cgroup v2's `memory.max`, or v1's
/// `memory.limit_in_bytes` (`max`, a missing file or an absurd value: no limit).
pub fn cache_bytes() -> usize {
    static BYTES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BYTES.get_or_init(|| {
        let limit = [
            "/sys/fs/cgroup/memory.max",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
        // cgroup v1 reports "no limit" as a huge number.
        .filter(|&limit| limit < 1 << 50);
        cache_bytes_within(limit)
    })
}

/// Weighs a cached object by its size.
struct BySize;

impl clru::WeightScale<Key, Object> for BySize {
    fn weight(&self, _: &Key, (_, data): &Object) -> usize {
        data.len()
    }
}

struct State {
    /// The last object decoded, so that a header lookup followed by a read of the same
    /// object (what gix's diff pipeline does) decodes it once, whatever its size.
    last: Option<(ObjectId, Object)>,
    inflate: gix::zlib::Inflate,
    delta: Vec<u8>,
    chain: Vec<(u32, pack::data::Entry)>,
}

/// One thread's reader of objects: from the packs through the delta base cache, else from
/// `fallback`.
pub struct PackedObjects<'r> {
    packs: Packs,
    fallback: &'r gix::OdbHandle,
    state: RefCell<State>,
}

impl std::fmt::Debug for PackedObjects<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedObjects")
            .field("packs", &self.packs)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: &'static str) -> gix::Error {
    message(what).raise()
}

impl<'r> PackedObjects<'r> {
    /// A reader over `packs` (and their cache).
    pub fn new(packs: Packs, fallback: &'r gix::OdbHandle) -> Self {
        Self {
            packs,
            fallback,
            state: RefCell::new(State {
                last: None,
                inflate: gix::zlib::Inflate::default(),
                delta: Vec::new(),
                chain: Vec::new(),
            }),
        }
    }

    /// The object `id` if it is in one of the packs.
    fn packed(&self, id: &gix::oid) -> gix::Result<Option<Object>> {
        let mut state = self.state.borrow_mut();
        if let Some((last, object)) = &state.last
            && last.as_ref() == id
        {
            return Ok(Some(object.clone()));
        }
        let found = match self.packs.locate(id) {
            Some(location) => state.decode(&self.packs, location)?,
            None => self.packs.loose(id, &mut state.inflate)?,
        };
        if let Some(object) = &found {
            state.last = Some((id.to_owned(), object.clone()));
        }
        Ok(found)
    }
}

impl State {
    /// Resolves the object at `location`, keeping every object of its delta chain.
    /// `None` if a base is referred to by id and is not in the packs.
    fn decode(&mut self, packs: &Packs, mut location: Location) -> gix::Result<Option<Object>> {
        self.chain.clear();
        let (kind, mut object) = loop {
            if let Some(object) = packs.cached(Key::Packed(location)) {
                break object;
            }
            let pack = &packs.bundles[location.0 as usize].pack;
            let entry = pack.entry(location.1)?;
            let next = match entry.header {
                pack::data::entry::Header::OfsDelta { base_distance } => entry
                    .checked_base_pack_offset(base_distance)
                    .map(|offset| (location.0, offset))
                    .ok_or_else(|| corrupt("a delta's base lies before the start of its pack"))?,
                pack::data::entry::Header::RefDelta { base_id } => match packs.locate(&base_id) {
                    Some(base) => base,
                    None => return Ok(None),
                },
                header => {
                    let kind = header
                        .as_kind()
                        .expect("every other header is an object's kind");
                    let mut data = vec![0; size_of_entry(&entry)?];
                    pack.decompress_entry(&entry, &mut self.inflate, &mut data)?;
                    let data = Arc::new(data);
                    packs.keep(Key::Packed(location), (kind, data.clone()));
                    break (kind, data);
                }
            };
            self.chain.push((location.0, entry));
            // git's packs chain at most a few thousand deltas; more is a cycle.
            if self.chain.len() > 10_000 {
                return Err(corrupt("a delta chain is longer than 10000 (a cycle?)"));
            }
            location = next;
        };
        while let Some((at, entry)) = self.chain.pop() {
            let pack = &packs.bundles[at as usize].pack;
            self.delta.clear();
            self.delta.resize(size_of_entry(&entry)?, 0);
            pack.decompress_entry(&entry, &mut self.inflate, &mut self.delta)?;
            let result = apply_delta(&object, &self.delta)?;
            object = Arc::new(result);
            packs.keep(
                Key::Packed((at, entry.pack_offset())),
                (kind, object.clone()),
            );
        }
        Ok(Some((kind, object)))
    }
}

fn size_of_entry(entry: &pack::data::Entry) -> gix::Result<usize> {
    usize::try_from(entry.decompressed_size).map_err(|_| corrupt("a pack entry is too large"))
}

/// A size in a delta's header (little-endian base-128).
fn delta_size(delta: &[u8], at: &mut usize) -> gix::Result<usize> {
    let mut size = 0usize;
    let mut shift = 0;
    loop {
        let byte = *delta
            .get(*at)
            .ok_or_else(|| corrupt("a delta's header is truncated"))?;
        *at += 1;
        if shift > 56 {
            return Err(corrupt("a delta's header size is too large"));
        }
        size |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(size);
        }
    }
}

/// The object that `delta` (git's format: base size, result size, then copy and insert
/// instructions) makes of `base`.
pub fn apply_delta(base: &[u8], delta: &[u8]) -> gix::Result<Vec<u8>> {
    let mut at = 0;
    if delta_size(delta, &mut at)? != base.len() {
        return Err(corrupt(
            "a delta's base size differs from its base object's",
        ));
    }
    let size = delta_size(delta, &mut at)?;
    let mut out = Vec::with_capacity(size);
    while let Some(&command) = delta.get(at) {
        at += 1;
        if command & 0x80 != 0 {
            // Copy from the base: which of 4 offset and 3 size bytes follow is in the bits.
            let mut field = |bits: u8, first_bit: u8| -> gix::Result<usize> {
                let mut value = 0usize;
                for byte in 0..bits {
                    if command & (1 << (first_bit + byte)) != 0 {
                        let next = *delta
                            .get(at)
                            .ok_or_else(|| corrupt("a delta's copy instruction is truncated"))?;
                        at += 1;
                        value |= usize::from(next) << (8 * byte);
                    }
                }
                Ok(value)
            };
            let offset = field(4, 0)?;
            let length = match field(3, 4)? {
                0 => 0x10000,
                length => length,
            };
            let copied = offset
                .checked_add(length)
                .and_then(|end| base.get(offset..end))
                .ok_or_else(|| corrupt("a delta copies beyond its base object"))?;
            out.extend_from_slice(copied);
        } else if command != 0 {
            let inserted = delta
                .get(at..at + usize::from(command))
                .ok_or_else(|| corrupt("a delta's insert instruction is truncated"))?;
            at += inserted.len();
            out.extend_from_slice(inserted);
        } else {
            return Err(corrupt("a delta uses the reserved instruction 0"));
        }
        if out.len() > size {
            return Err(corrupt("a delta makes more than its result size"));
        }
    }
    if out.len() != size {
        return Err(corrupt("a delta makes less than its result size"));
    }
    Ok(out)
}

impl PackedObjects<'_> {
    /// Object `id`, shared with the cache when it comes from the packs.
    pub fn object(&self, id: &gix::oid) -> gix::Result<Option<Object>> {
        if let Some(object) = self.packed(id)? {
            return Ok(Some(object));
        }
        let mut data = Vec::new();
        let kind = gix::objs::Find::try_find(self.fallback, id, &mut data)?.map(|found| found.kind);
        Ok(kind.map(|kind| (kind, Arc::new(data))))
    }
}

impl gix::objs::Find for PackedObjects<'_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> gix::Result<Option<Data<'a>>> {
        match self.packed(id)? {
            Some((kind, data)) => {
                buffer.clear();
                buffer.extend_from_slice(&data);
                Ok(Some(Data {
                    kind,
                    object_hash: id.kind(),
                    data: buffer,
                }))
            }
            None => self.fallback.try_find(id, buffer),
        }
    }
}

impl gix::objs::FindHeader for PackedObjects<'_> {
    fn try_header(&self, id: &gix::oid) -> gix::Result<Option<gix::objs::Header>> {
        // The header of a delta is only known by decoding it; whoever asks reads the object
        // next, which then finds it decoded.
        match self.packed(id)? {
            Some((kind, data)) => Ok(Some(gix::objs::Header {
                kind,
                size: data.len() as u64,
            })),
            None => self.fallback.try_header(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_copy_and_insert() {
        let base = b"hello, world\n";
        // base size 13, result size 12: copy 7 bytes at 0, insert "there", copy nothing else.
        let mut delta = vec![13, 12, 0x80 | 0x10, 7, 5];
        delta.extend_from_slice(b"there");
        assert_eq!(apply_delta(base, &delta).expect("valid"), b"hello, there");
        // A copy with an offset byte and the size 0 that means 65536.
        let big = vec![7u8; 0x10001];
        let delta = [0x81, 0x80, 0x04, 0x80, 0x80, 0x04, 0x81, 0x01];
        assert_eq!(apply_delta(&big, &delta).expect("valid").len(), 0x10000);
    }

    #[test]
    fn the_cache_follows_the_memory_limit() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(cache_bytes_within(None), CACHE_BYTES);
        assert_eq!(cache_bytes_within(Some(512 * MIB)), 128 * 1024 * 1024);
        assert_eq!(cache_bytes_within(Some(1024 * MIB)), CACHE_BYTES);
        assert_eq!(cache_bytes_within(Some(32 * MIB)), 16 * 1024 * 1024);
    }

    #[test]
    fn the_cache_keeps_the_latest_objects_within_its_bytes() {
        let packs = Packs {
            bundles: Arc::from(Vec::new()),
            objects: Arc::from(std::path::Path::new("/nonexistent")),
            cache: Arc::new(Mutex::new(new_cache(1000))),
        };
        let object = |len| (Kind::Blob, Arc::new(vec![0u8; len]));
        for offset in 0..50 {
            packs.keep(Key::Packed((0, offset)), object(100));
            let cache = packs.cache.lock().expect("not poisoned");
            assert!(cache.weight() <= 1000, "{} bytes kept", cache.weight());
        }
        for offset in 40..50 {
            assert!(packs.cached(Key::Packed((0, offset))).is_none() == (offset < 41));
        }
        assert!(packs.cached(Key::Packed((0, 0))).is_none());
        // Larger than the whole cache: not kept, and nothing else leaves for it.
        packs.keep(Key::Packed((1, 0)), object(1000));
        assert!(packs.cached(Key::Packed((1, 0))).is_none());
        assert!(packs.cached(Key::Packed((0, 49))).is_some());
    }

    #[test]
    fn bad_deltas_are_errors() {
        let base = b"abc";
        for delta in [
            &[4u8, 3][..],                     // wrong base size
            &[3, 3, 0x80 | 0x01 | 0x10, 2, 2], // copies beyond the base
            &[3, 3, 5, b'x'],                  // truncated insert
            &[3, 3, 0],                        // reserved instruction
            &[3, 4, 0x80 | 0x10, 3],           // short of its result size
            &[3, 2, 0x80 | 0x10, 3],           // beyond its result size
            &[3],                              // truncated header
        ] {
            assert!(apply_delta(base, delta).is_err(), "{delta:?}");
        }
    }
}
