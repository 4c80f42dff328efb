//! IOIO exit-information descriptor (`sw_exit_info_1` of NAE event 0x7B), in the format of
//! the SVM IOIO intercept EXITINFO1 (AMD APM vol. 2 §15.10.2 "IN and OUT Behavior", figure
//! "EXITINFO1 for IOIO Intercept"; AMD 56421 GHCB spec §4.1.2 "IOIO").
//!
//! Bits: 0 type (1 = IN), 2 string, 3 REP, 4/5/6 operand size 8/16/32, 7/8/9 address size
//! 16/32/64, [12:10] effective segment, [31:16] port. Under SEV-ES/SNP the CPU provides no
//! exit information for a #VC, so the guest decodes the instruction ([`crate::vc`]) and builds
//! this descriptor itself.

/// Direction of a port access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDirection {
    /// IN / INS: port → guest.
    In,
    /// OUT / OUTS: guest → port.
    Out,
}

/// Operand size of a port access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoSize {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Word,
    /// 32 bits.
    Dword,
}

impl IoSize {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Byte => 1,
            Self::Word => 2,
            Self::Dword => 4,
        }
    }

    /// Mask of the bits this size covers.
    pub const fn mask(self) -> u64 {
        match self {
            Self::Byte => 0xFF,
            Self::Word => 0xFFFF,
            Self::Dword => 0xFFFF_FFFF,
        }
    }
}

/// Address size of a string port access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSize {
    /// 16-bit addressing.
    A16,
    /// 32-bit addressing.
    A32,
    /// 64-bit addressing.
    A64,
}

impl AddrSize {
    /// Mask of the address bits used (for RSI/RDI/RCX arithmetic).
    pub const fn mask(self) -> u64 {
        match self {
            Self::A16 => 0xFFFF,
            Self::A32 => 0xFFFF_FFFF,
            Self::A64 => u64::MAX,
        }
    }
}

/// Segment register encoding used in the descriptor ([12:10]): ES 0, CS 1, SS 2, DS 3, FS 4, GS 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// ES.
    Es = 0,
    /// CS.
    Cs = 1,
    /// SS.
    Ss = 2,
    /// DS.
    Ds = 3,
    /// FS.
    Fs = 4,
    /// GS.
    Gs = 5,
}

/// A decoded or to-be-encoded IOIO descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoioDescriptor {
    /// Direction.
    pub direction: IoDirection,
    /// String instruction (INS/OUTS).
    pub string: bool,
    /// REP prefix present.
    pub rep: bool,
    /// Operand size.
    pub size: IoSize,
    /// Address size (meaningful for string instructions).
    pub addr_size: AddrSize,
    /// Effective segment (meaningful for OUTS).
    pub segment: Segment,
    /// Port number.
    pub port: u16,
}

/// A malformed IOIO descriptor value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoioDecodeError(pub u64);

impl IoioDescriptor {
    /// A single (non-string) port access; address size 16 and segment ES as Oak does.
    pub const fn simple(direction: IoDirection, size: IoSize, port: u16) -> Self {
        Self {
            direction,
            string: false,
            rep: false,
            size,
            addr_size: AddrSize::A16,
            segment: Segment::Es,
            port,
        }
    }

    /// Encodes the descriptor.
    pub const fn encode(&self) -> u64 {
        let mut v: u64 = 0;
        if matches!(self.direction, IoDirection::In) {
            v |= 1;
        }
        if self.string {
            v |= 1 << 2;
        }
        if self.rep {
            v |= 1 << 3;
        }
        v |= match self.size {
            IoSize::Byte => 1 << 4,
            IoSize::Word => 1 << 5,
            IoSize::Dword => 1 << 6,
        };
        v |= match self.addr_size {
            AddrSize::A16 => 1 << 7,
            AddrSize::A32 => 1 << 8,
            AddrSize::A64 => 1 << 9,
        };
        v |= (self.segment as u64) << 10;
        v |= (self.port as u64) << 16;
        v
    }

    /// Decodes a descriptor; exactly one size and one address-size bit must be set and
    /// reserved bits (1, [15:13], [63:32]) clear.
    pub fn decode(value: u64) -> Result<Self, IoioDecodeError> {
        let err = IoioDecodeError(value);
        if value & ((1 << 1) | (0x7 << 13) | (0xFFFF_FFFF << 32)) != 0 {
            return Err(err);
        }
        let size = match (value >> 4) & 7 {
            1 => IoSize::Byte,
            2 => IoSize::Word,
            4 => IoSize::Dword,
            _ => return Err(err),
        };
        let addr_size = match (value >> 7) & 7 {
            1 => AddrSize::A16,
            2 => AddrSize::A32,
            4 => AddrSize::A64,
            _ => return Err(err),
        };
        let segment = match (value >> 10) & 7 {
            0 => Segment::Es,
            1 => Segment::Cs,
            2 => Segment::Ss,
            3 => Segment::Ds,
            4 => Segment::Fs,
            5 => Segment::Gs,
            _ => return Err(err),
        };
        Ok(Self {
            direction: if value & 1 != 0 {
                IoDirection::In
            } else {
                IoDirection::Out
            },
            string: value & (1 << 2) != 0,
            rep: value & (1 << 3) != 0,
            size,
            addr_size,
            segment,
            port: (value >> 16) as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_in_out_encoding() {
        // IN AL, 0x3F8: type 1, size8 bit4, a16 bit7, port << 16
        let d = IoioDescriptor::simple(IoDirection::In, IoSize::Byte, 0x3F8);
        assert_eq!(d.encode(), 0x03F8_0091);
        let d = IoioDescriptor::simple(IoDirection::Out, IoSize::Dword, 0xCF8);
        assert_eq!(d.encode(), 0x0CF8_00C0);
        let d = IoioDescriptor::simple(IoDirection::Out, IoSize::Word, 0x510);
        assert_eq!(d.encode(), 0x0510_00A0);
    }

    #[test]
    fn string_rep_encoding_round_trip() {
        let d = IoioDescriptor {
            direction: IoDirection::Out,
            string: true,
            rep: true,
            size: IoSize::Byte,
            addr_size: AddrSize::A64,
            segment: Segment::Gs,
            port: 0x3F8,
        };
        let v = d.encode();
        assert_eq!(
            v,
            0x03F8_0000 | (5 << 10) | (1 << 9) | (1 << 4) | (1 << 3) | (1 << 2)
        );
        assert_eq!(IoioDescriptor::decode(v), Ok(d));
        for dir in [IoDirection::In, IoDirection::Out] {
            for size in [IoSize::Byte, IoSize::Word, IoSize::Dword] {
                for a in [AddrSize::A16, AddrSize::A32, AddrSize::A64] {
                    let d = IoioDescriptor {
                        direction: dir,
                        string: true,
                        rep: false,
                        size,
                        addr_size: a,
                        segment: Segment::Ds,
                        port: 0xFFFF,
                    };
                    assert_eq!(IoioDescriptor::decode(d.encode()), Ok(d));
                }
            }
        }
    }

    #[test]
    fn decode_rejects_malformed() {
        assert!(IoioDescriptor::decode(0x0080).is_err()); // no size bit
        assert!(IoioDescriptor::decode(0x0030 | 0x80).is_err()); // two size bits
        assert!(IoioDescriptor::decode(0x0010).is_err()); // no address bit
        assert!(IoioDescriptor::decode(0x0090 | (1 << 40)).is_err());
        assert!(IoioDescriptor::decode(0x0090 | (7 << 10)).is_err());
        assert!(IoioDescriptor::decode(0x0092).is_err());
    }
}
