//! Digests: (function, hash, size). BLAKE3 by default; SHA-256 where a remote cache speaks only that (BuildGrid), chosen per store.

use std::fmt;
use std::io::Read;

use sha2::Digest as _;

/// The hash function of a digest. REAPI names them in `DigestFunction.Value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum DigestFunction {
    #[default]
    Blake3,
    Sha256,
}

impl DigestFunction {
    /// The REAPI `DigestFunction.Value` number.
    pub fn reapi_value(self) -> i32 {
        match self {
            Self::Sha256 => 1,
            Self::Blake3 => 9,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Blake3 => "blake3",
            Self::Sha256 => "sha256",
        }
    }

    /// `blake3` / `sha256` (any case).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "blake3" => Some(Self::Blake3),
            "sha256" | "sha-256" => Some(Self::Sha256),
            _ => None,
        }
    }
}

/// A content digest: which function, the 32-byte hash, and the content's size.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    pub function: DigestFunction,
    pub hash: [u8; 32],
    pub size: u64,
}

impl Digest {
    /// The digest of some bytes.
    pub fn of(function: DigestFunction, bytes: &[u8]) -> Self {
        let mut hasher = Hasher::new(function);
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of everything a reader yields, in bounded memory.
    pub fn of_reader(function: DigestFunction, mut reader: impl Read) -> std::io::Result<Self> {
        let mut hasher = Hasher::new(function);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buffer)?;
            if n == 0 {
                return Ok(hasher.finish());
            }
            hasher.update(&buffer[..n]);
        }
    }

    /// Lower-case hex of the hash, as REAPI writes it.
    pub fn hex(&self) -> String {
        use fmt::Write as _;
        let mut out = String::with_capacity(64);
        for byte in self.hash {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }

    /// Parses REAPI's (hex, size) form.
    pub fn from_hex(function: DigestFunction, hex: &str, size: u64) -> Option<Self> {
        if hex.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self { function, hash, size })
    }

    /// The digest of empty content for a function.
    pub fn empty(function: DigestFunction) -> Self {
        Self::of(function, b"")
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.function.name(), self.hex(), self.size)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.hex(), self.size)
    }
}

/// A streaming hasher for either function that also counts the size.
pub struct Hasher {
    inner: Inner,
    size: u64,
}

enum Inner {
    Blake3(Box<blake3::Hasher>),
    Sha256(sha2::Sha256),
}

impl Hasher {
    pub fn new(function: DigestFunction) -> Self {
        let inner = match function {
            DigestFunction::Blake3 => Inner::Blake3(Box::new(blake3::Hasher::new())),
            DigestFunction::Sha256 => Inner::Sha256(sha2::Sha256::new()),
        };
        Self { inner, size: 0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        match &mut self.inner {
            Inner::Blake3(h) => {
                h.update(bytes);
            }
            Inner::Sha256(h) => h.update(bytes),
        }
    }

    /// Bytes hashed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Digest {
        let (function, hash) = match self.inner {
            Inner::Blake3(h) => (DigestFunction::Blake3, *h.finalize().as_bytes()),
            Inner::Sha256(h) => (DigestFunction::Sha256, h.finalize().into()),
        };
        Digest { function, hash, size: self.size }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        // Well-known digests of "abc" and of empty input.
        let sha = Digest::of(DigestFunction::Sha256, b"abc");
        assert_eq!(sha.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha.size, 3);
        let empty = Digest::empty(DigestFunction::Sha256);
        assert_eq!(empty.hex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let blake = Digest::of(DigestFunction::Blake3, b"");
        assert_eq!(blake.hex(), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
    }

    #[test]
    fn hex_round_trip_and_streaming() {
        let digest = Digest::of(DigestFunction::Blake3, b"hello world");
        assert_eq!(Digest::from_hex(DigestFunction::Blake3, &digest.hex(), 11), Some(digest));
        assert_eq!(Digest::from_hex(DigestFunction::Blake3, "zz", 1), None);
        assert_eq!(Digest::from_hex(DigestFunction::Blake3, &"g".repeat(64), 1), None);
        let big = vec![7u8; 300_000];
        for function in [DigestFunction::Blake3, DigestFunction::Sha256] {
            assert_eq!(Digest::of_reader(function, big.as_slice()).unwrap(), Digest::of(function, &big));
        }
        assert_eq!(DigestFunction::parse("SHA256"), Some(DigestFunction::Sha256));
        assert_eq!(DigestFunction::Blake3.reapi_value(), 9);
    }
}
