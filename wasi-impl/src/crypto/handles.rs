//! The per-guest handle table of wasi-crypto objects.
//!
//! A handle is `kind << 24 | sequence`: the top byte names the object type, so a handle of one
//! type passed where another is expected is `invalid_handle` without a lookup (witx
//! `crypto_errno::invalid_handle`: "a handle of an unexpected type"). Using a handle that is
//! not open is `invalid_handle`; closing it is `closed` (as the proposal's reference
//! implementation does). At most `max` objects are open at once (`too_many_handles`).

use super::symmetric::{SymKey, SymOptions, SymState};
use super::{CR, CryptoErrno};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use zeroize::Zeroizing;

/// Default limit of open wasi-crypto objects per guest.
pub const MAX_HANDLES: usize = 1024;

/// Object types (the handle's top byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `options`.
    Options = 1,
    /// `array_output`.
    ArrayOutput = 2,
    /// `secrets_manager`.
    SecretsManager = 3,
    /// `symmetric_key`.
    Key = 4,
    /// `symmetric_state`.
    State = 5,
    /// `symmetric_tag`.
    Tag = 6,
}

/// An `array_output`: bytes the guest pulls, possibly in several calls.
#[derive(Debug)]
pub struct ArrayOutput {
    /// The data (wiped when dropped: it may be key material).
    pub data: Zeroizing<Vec<u8>>,
    /// Bytes already pulled.
    pub pos: usize,
}

/// An object behind a handle.
#[derive(Debug)]
pub enum Object {
    /// Symmetric options.
    Options(SymOptions),
    /// An array output.
    ArrayOutput(ArrayOutput),
    /// A secrets manager (gives access to the managed sealing keys).
    SecretsManager,
    /// A symmetric key.
    Key(SymKey),
    /// A symmetric state.
    State(Box<SymState>),
    /// A computed authentication tag (wiped when dropped).
    Tag(Zeroizing<Vec<u8>>),
}

impl Object {
    fn kind(&self) -> Kind {
        match self {
            Object::Options(_) => Kind::Options,
            Object::ArrayOutput(_) => Kind::ArrayOutput,
            Object::SecretsManager => Kind::SecretsManager,
            Object::Key(_) => Kind::Key,
            Object::State(_) => Kind::State,
            Object::Tag(_) => Kind::Tag,
        }
    }
}

/// The table.
#[derive(Debug)]
pub struct Handles {
    map: BTreeMap<u32, Object>,
    seq: u32,
    max: usize,
}

const SEQ_MASK: u32 = 0x00ff_ffff;

impl Handles {
    /// An empty table allowing `max` open objects (at most 2^24 - 1).
    pub fn new(max: usize) -> Self {
        Self {
            map: BTreeMap::new(),
            seq: 0,
            max: max.min(SEQ_MASK as usize),
        }
    }

    /// Open objects.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `too_many_handles` if no object can be added.
    pub fn ensure_room(&self) -> CR {
        if self.map.len() >= self.max {
            return Err(CryptoErrno::TooManyHandles);
        }
        Ok(())
    }

    /// Adds an object and returns its new handle.
    pub fn insert(&mut self, obj: Object) -> CR<u32> {
        self.ensure_room()?;
        let tag = (obj.kind() as u32) << 24;
        // Fewer than 2^24 objects are open, so a free sequence number exists.
        loop {
            self.seq = self.seq.wrapping_add(1) & SEQ_MASK;
            let h = tag | self.seq;
            if let alloc::collections::btree_map::Entry::Vacant(e) = self.map.entry(h) {
                e.insert(obj);
                return Ok(h);
            }
        }
    }

    fn check_kind(h: u32, kind: Kind) -> CR {
        if h >> 24 != kind as u32 {
            return Err(CryptoErrno::InvalidHandle);
        }
        Ok(())
    }

    /// The open object `h`, which must be of type `kind`.
    pub fn get(&self, h: u32, kind: Kind) -> CR<&Object> {
        Self::check_kind(h, kind)?;
        self.map.get(&h).ok_or(CryptoErrno::InvalidHandle)
    }

    /// Mutable access to the open object `h` of type `kind`.
    pub fn get_mut(&mut self, h: u32, kind: Kind) -> CR<&mut Object> {
        Self::check_kind(h, kind)?;
        self.map.get_mut(&h).ok_or(CryptoErrno::InvalidHandle)
    }

    /// Closes `h` (of type `kind`): `invalid_handle` for another type, `closed` if not open.
    pub fn close(&mut self, h: u32, kind: Kind) -> CR {
        Self::check_kind(h, kind)?;
        self.map.remove(&h).map(drop).ok_or(CryptoErrno::Closed)
    }

    /// The options `h`.
    pub fn options(&self, h: u32) -> CR<&SymOptions> {
        match self.get(h, Kind::Options)? {
            Object::Options(o) => Ok(o),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The options `h`, mutably.
    pub fn options_mut(&mut self, h: u32) -> CR<&mut SymOptions> {
        match self.get_mut(h, Kind::Options)? {
            Object::Options(o) => Ok(o),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The key `h`.
    pub fn key(&self, h: u32) -> CR<&SymKey> {
        match self.get(h, Kind::Key)? {
            Object::Key(k) => Ok(k),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The state `h`.
    pub fn state(&self, h: u32) -> CR<&SymState> {
        match self.get(h, Kind::State)? {
            Object::State(s) => Ok(s),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The state `h`, mutably.
    pub fn state_mut(&mut self, h: u32) -> CR<&mut SymState> {
        match self.get_mut(h, Kind::State)? {
            Object::State(s) => Ok(s),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The tag `h`.
    pub fn tag(&self, h: u32) -> CR<&[u8]> {
        match self.get(h, Kind::Tag)? {
            Object::Tag(t) => Ok(t),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }

    /// The array output `h`, mutably.
    pub fn array_output_mut(&mut self, h: u32) -> CR<&mut ArrayOutput> {
        match self.get_mut(h, Kind::ArrayOutput)? {
            Object::ArrayOutput(a) => Ok(a),
            _ => Err(CryptoErrno::InvalidHandle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_checked_and_close_twice_is_closed() {
        let mut t = Handles::new(2);
        let o = t.insert(Object::SecretsManager).unwrap();
        let a = t
            .insert(Object::ArrayOutput(ArrayOutput {
                data: Zeroizing::new(Vec::new()),
                pos: 0,
            }))
            .unwrap();
        assert_ne!(o, a);
        assert_eq!(
            t.insert(Object::SecretsManager),
            Err(CryptoErrno::TooManyHandles)
        );
        assert_eq!(
            t.get(o, Kind::ArrayOutput).map(|_| ()),
            Err(CryptoErrno::InvalidHandle)
        );
        assert_eq!(t.close(o, Kind::Key), Err(CryptoErrno::InvalidHandle));
        assert_eq!(t.close(o, Kind::SecretsManager), Ok(()));
        assert_eq!(t.close(o, Kind::SecretsManager), Err(CryptoErrno::Closed));
        assert_eq!(
            t.get(o, Kind::SecretsManager).map(|_| ()),
            Err(CryptoErrno::InvalidHandle)
        );
        assert_eq!(t.len(), 1);
        // room again after a close; the new handle differs from the closed one
        let o2 = t.insert(Object::SecretsManager).unwrap();
        assert_ne!(o2, o);
    }
}
