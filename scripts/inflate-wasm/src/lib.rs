//! A raw-DEFLATE (RFC 1951) decoder for one job: turning the deflated copy of warren's wasm
//! module that the npm package carries (pkg/warren_wasm.js) back into bytes, synchronously, at
//! import. It is compiled to its own small wasm module because a JavaScript inflater spends tens
//! of milliseconds in V8's interpreter before it is optimised; this one starts at full speed.
//!
//! Interface (wasm exports, no imports): `scratch(len)` grows the memory to hold `len` bytes past
//! the heap base and returns that address (0 when it cannot); `inflate(input, input_len, out,
//! out_len)` decodes into exactly `out_len` bytes and returns 0, or an error code (see `Error`).
#![cfg_attr(target_arch = "wasm32", no_std)]

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// Why decoding failed; the numbers are what `inflate` returns (wasm-bytes.js names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Error {
    Truncated = 1,
    BadCode = 2,
    StoredLength = 3,
    BlockType = 4,
    BadLengths = 5,
    DistanceTooFar = 6,
    TooLong = 7,
    TooShort = 8,
}

// Length codes 257..285 and distance codes 0..29: base values and extra bits (RFC 1951 3.2.5).
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which a dynamic block lists the code lengths of the code-length alphabet.
const CLEN_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A canonical Huffman code as a table indexed by the next `bits` input bits (a code's first
/// bit is the lowest): each entry is `symbol << 4 | code length`, 0 where no code matches.
struct Huffman {
    table: [u16; 1 << 15],
    bits: u32,
}

impl Huffman {
    const fn new() -> Self {
        Huffman {
            table: [0; 1 << 15],
            bits: 0,
        }
    }

    fn build(&mut self, lengths: &[u8]) {
        let mut count = [0u16; 16];
        let mut bits = 0;
        for &len in lengths {
            count[len as usize] += 1;
            bits = bits.max(len as u32);
        }
        count[0] = 0;
        let mut next = [0u16; 16];
        let mut code = 0u16;
        for len in 1..16 {
            code = (code + count[len - 1]) << 1;
            next[len] = code;
        }
        let size = 1usize << bits;
        self.table[..size].fill(0);
        self.bits = bits;
        for (sym, &len) in lengths.iter().enumerate() {
            if len == 0 {
                continue;
            }
            let len = len as u32;
            let code = next[len as usize];
            next[len as usize] += 1;
            let reversed = (code.reverse_bits() >> (16 - len)) as usize;
            let entry = ((sym as u16) << 4) | len as u16;
            let mut i = reversed;
            while i < size {
                self.table[i] = entry;
                i += 1 << len;
            }
        }
    }
}

/// Reads bits, first bit lowest; past the end of the input it reads zeros, which a valid stream
/// never uses (the length checks catch a truncated one).
struct Bits<'a> {
    input: &'a [u8],
    at: usize,
    buf: u64,
    have: u32,
}

impl Bits<'_> {
    #[inline]
    fn need(&mut self, n: u32) -> Result<(), Error> {
        while self.have < n {
            if self.at > self.input.len() + 4 {
                return Err(Error::Truncated);
            }
            let byte = self.input.get(self.at).copied().unwrap_or(0);
            self.buf |= (byte as u64) << self.have;
            self.at += 1;
            self.have += 8;
        }
        Ok(())
    }

    #[inline]
    fn bits(&mut self, n: u32) -> Result<u32, Error> {
        self.need(n)?;
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.have -= n;
        Ok(v)
    }

    #[inline]
    fn decode(&mut self, h: &Huffman) -> Result<usize, Error> {
        self.need(h.bits)?;
        let entry = h.table[(self.buf & ((1u64 << h.bits) - 1)) as usize];
        let len = (entry & 15) as u32;
        if len == 0 {
            return Err(Error::BadCode);
        }
        self.buf >>= len;
        self.have -= len;
        Ok((entry >> 4) as usize)
    }
}

/// The codes of the block being decoded (a static in the wasm build: 192 KiB of tables).
pub struct Codes {
    lit: Huffman,
    dist: Huffman,
    clen: Huffman,
}

fn fixed_codes(codes: &mut Codes) {
    let mut lit = [0u8; 288];
    lit[..144].fill(8);
    lit[144..256].fill(9);
    lit[256..280].fill(7);
    lit[280..].fill(8);
    codes.lit.build(&lit);
    codes.dist.build(&[5; 30]);
}

fn dynamic_codes(r: &mut Bits, codes: &mut Codes) -> Result<(), Error> {
    let nlit = r.bits(5)? as usize + 257;
    let ndist = r.bits(5)? as usize + 1;
    let nclen = r.bits(4)? as usize + 4;
    let mut clen = [0u8; 19];
    for &i in &CLEN_ORDER[..nclen] {
        clen[i] = r.bits(3)? as u8;
    }
    codes.clen.build(&clen);
    let mut lengths = [0u8; 286 + 30];
    let total = nlit + ndist;
    if nlit > 286 || ndist > 30 {
        return Err(Error::BadLengths);
    }
    let mut i = 0;
    while i < total {
        let sym = r.decode(&codes.clen)?;
        if sym < 16 {
            lengths[i] = sym as u8;
            i += 1;
            continue;
        }
        let (value, repeat) = match sym {
            16 if i == 0 => return Err(Error::BadLengths),
            16 => (lengths[i - 1], 3 + r.bits(2)? as usize),
            17 => (0, 3 + r.bits(3)? as usize),
            _ => (0, 11 + r.bits(7)? as usize),
        };
        if i + repeat > total {
            return Err(Error::BadLengths);
        }
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    if lengths[256] == 0 {
        return Err(Error::BadLengths);
    }
    codes.lit.build(&lengths[..nlit]);
    codes.dist.build(&lengths[nlit..total]);
    Ok(())
}

/// Inflates raw DEFLATE `input` into all of `out`.
pub fn inflate_into(input: &[u8], out: &mut [u8], codes: &mut Codes) -> Result<(), Error> {
    let mut r = Bits {
        input,
        at: 0,
        buf: 0,
        have: 0,
    };
    let mut pos = 0;
    loop {
        let last = r.bits(1)? == 1;
        match r.bits(2)? {
            0 => {
                // stored: from the next byte boundary (whole bytes still in buf are read again)
                r.at -= (r.have / 8) as usize;
                r.buf = 0;
                r.have = 0;
                let at = r.at;
                let header = input.get(at..at + 4).ok_or(Error::Truncated)?;
                let len = u16::from_le_bytes([header[0], header[1]]);
                if len != !u16::from_le_bytes([header[2], header[3]]) {
                    return Err(Error::StoredLength);
                }
                let len = len as usize;
                let data = input.get(at + 4..at + 4 + len).ok_or(Error::Truncated)?;
                out.get_mut(pos..pos + len)
                    .ok_or(Error::TooLong)?
                    .copy_from_slice(data);
                r.at = at + 4 + len;
                pos += len;
            }
            1 => {
                fixed_codes(codes);
                pos = codes_block(&mut r, out, pos, codes)?;
            }
            2 => {
                dynamic_codes(&mut r, codes)?;
                pos = codes_block(&mut r, out, pos, codes)?;
            }
            _ => return Err(Error::BlockType),
        }
        if last {
            break;
        }
    }
    if pos != out.len() {
        return Err(Error::TooShort);
    }
    Ok(())
}

/// The symbols of one Huffman-coded block, up to its end-of-block code; returns the new `pos`.
fn codes_block(
    r: &mut Bits,
    out: &mut [u8],
    mut pos: usize,
    codes: &Codes,
) -> Result<usize, Error> {
    loop {
        let sym = r.decode(&codes.lit)?;
        if sym < 256 {
            *out.get_mut(pos).ok_or(Error::TooLong)? = sym as u8;
            pos += 1;
            continue;
        }
        if sym == 256 {
            return Ok(pos);
        }
        let sym = sym - 257;
        if sym >= 29 {
            return Err(Error::BadCode);
        }
        let len = LENGTH_BASE[sym] as usize + r.bits(LENGTH_EXTRA[sym] as u32)? as usize;
        let dsym = r.decode(&codes.dist)?;
        if dsym >= 30 {
            return Err(Error::BadCode);
        }
        let back = DIST_BASE[dsym] as usize + r.bits(DIST_EXTRA[dsym] as u32)? as usize;
        if back > pos {
            return Err(Error::DistanceTooFar);
        }
        if pos + len > out.len() {
            return Err(Error::TooLong);
        }
        if back >= len {
            out.copy_within(pos - back..pos - back + len, pos);
        } else {
            for i in pos..pos + len {
                out[i] = out[i - back];
            }
        }
        pos += len;
    }
}

impl Codes {
    pub const fn new() -> Self {
        Codes {
            lit: Huffman::new(),
            dist: Huffman::new(),
            clen: Huffman::new(),
        }
    }
}

impl Default for Codes {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_arch = "wasm32")]
mod exports {
    use super::{inflate_into, Codes};
    use core::ptr::addr_of_mut;

    extern "C" {
        static __heap_base: u8;
    }

    static mut CODES: Codes = Codes::new();

    /// Grows the memory to hold `len` bytes from the heap base; returns that address, 0 if not.
    #[no_mangle]
    pub extern "C" fn scratch(len: usize) -> usize {
        let base = core::ptr::addr_of!(__heap_base) as usize;
        let pages = (base + len).div_ceil(65536);
        let have = core::arch::wasm32::memory_size(0);
        if pages > have && core::arch::wasm32::memory_grow(0, pages - have) == usize::MAX {
            return 0;
        }
        base
    }

    /// # Safety
    /// `input..input + input_len` and `out..out + out_len` are distinct ranges of this memory.
    #[no_mangle]
    pub unsafe extern "C" fn inflate(
        input: *const u8,
        input_len: usize,
        out: *mut u8,
        out_len: usize,
    ) -> i32 {
        let input = core::slice::from_raw_parts(input, input_len);
        let out = core::slice::from_raw_parts_mut(out, out_len);
        match inflate_into(input, out, &mut *addr_of_mut!(CODES)) {
            Ok(()) => 0,
            Err(e) => e as i32,
        }
    }
}
