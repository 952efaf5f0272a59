//! G.711 mu-law, the codec of Twilio Media Streams (8 kHz, one byte per sample).
//!
//! Decoding is a 256-entry table built at compile time by a `const fn`; encoding uses the
//! standard biased-magnitude algorithm with a 256-entry segment table, so neither path
//! branches much or allocates. The `*_into` variants write into a caller's buffer for the
//! per-frame hot path.

/// Bias added to the magnitude before segment search (G.711: 33 << 2).
const BIAS: i32 = 0x84;
/// Largest magnitude that still fits the top segment once biased.
const CLIP: i32 = 32_635;

const fn decode_const(byte: u8) -> i16 {
    let u = !byte;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = decode_const(i as u8);
        i += 1;
    }
    table
}

/// Segment (exponent) of a biased magnitude, indexed by `magnitude >> 7`.
const fn build_segment_table() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 1;
    while i < 256 {
        // Position of the highest set bit of i (0..=7).
        table[i] = (7 - (i as u8).leading_zeros()) as u8;
        i += 1;
    }
    table
}

/// The linear value of every mu-law byte.
pub const DECODE_TABLE: [i16; 256] = build_decode_table();
const SEGMENT_TABLE: [u8; 256] = build_segment_table();

/// The mu-law byte for digital silence.
pub const SILENCE: u8 = 0xFF;

/// Decodes one mu-law byte to linear 16-bit PCM.
#[inline]
pub fn decode_sample(byte: u8) -> i16 {
    DECODE_TABLE[byte as usize]
}

/// Encodes one linear 16-bit PCM sample to mu-law.
#[inline]
pub fn encode_sample(sample: i16) -> u8 {
    let value = i32::from(sample);
    let sign: u8 = if value < 0 { 0x80 } else { 0x00 };
    let magnitude = value.unsigned_abs().min(CLIP as u32) as i32 + BIAS;
    let exponent = SEGMENT_TABLE[(magnitude >> 7) as usize];
    let mantissa = ((magnitude >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes a buffer of mu-law bytes.
pub fn decode(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| decode_sample(b)).collect()
}

/// Encodes a buffer of PCM samples.
pub fn encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| encode_sample(s)).collect()
}

/// Decodes into `out`, which must be at least as long as `bytes`; returns the number of
/// samples written (`bytes.len()`, or fewer if `out` is shorter).
pub fn decode_into(bytes: &[u8], out: &mut [i16]) -> usize {
    let n = bytes.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(&bytes[..n]) {
        *o = decode_sample(b);
    }
    n
}

/// Encodes into `out`, which must be at least as long as `samples`; returns the number of
/// bytes written (`samples.len()`, or fewer if `out` is shorter).
pub fn encode_into(samples: &[i16], out: &mut [u8]) -> usize {
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = encode_sample(s);
    }
    n
}

/// Appends decoded samples to `out` (reuses its capacity; no allocation once warm).
pub fn decode_extend(bytes: &[u8], out: &mut Vec<i16>) {
    out.extend(bytes.iter().map(|&b| decode_sample(b)));
}

/// Appends encoded bytes to `out` (reuses its capacity; no allocation once warm).
pub fn encode_extend(samples: &[i16], out: &mut Vec<u8>) {
    out.extend(samples.iter().map(|&s| encode_sample(s)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_values() {
        assert_eq!(decode_sample(0xFF), 0);
        assert_eq!(decode_sample(0x7F), 0);
        assert_eq!(decode_sample(0x00), -32124);
        assert_eq!(decode_sample(0x80), 32124);
        assert_eq!(decode_sample(0xFE), 8);
        assert_eq!(decode_sample(0x7E), -8);
        assert_eq!(decode_sample(0xEF), 132);
        assert_eq!(decode_sample(0xF0), 120);
        assert_eq!(encode_sample(0), 0xFF);
        assert_eq!(encode_sample(i16::MAX), 0x80);
        assert_eq!(encode_sample(i16::MIN), 0x00);
        assert_eq!(encode_sample(32124), 0x80);
        assert_eq!(encode_sample(-32124), 0x00);
    }

    #[test]
    fn every_code_round_trips() {
        for byte in 0..=255u8 {
            let back = encode_sample(decode_sample(byte));
            // 0x7F is negative zero; it encodes back as positive zero.
            let expected = if byte == 0x7F { 0xFF } else { byte };
            assert_eq!(back, expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn error_is_within_the_segment_step() {
        for x in i16::MIN..=i16::MAX {
            let y = decode_sample(encode_sample(x));
            let magnitude = i32::from(x).unsigned_abs().min(CLIP as u32) as i32 + BIAS;
            let segment = SEGMENT_TABLE[(magnitude >> 7) as usize];
            let step = 1i32 << (segment + 3);
            let err = (i32::from(y) - i32::from(x)).abs();
            assert!(err <= step, "x={x} y={y} err={err} step={step}");
            if x.unsigned_abs() as i32 <= CLIP {
                assert!(err <= step / 2, "x={x} y={y} err={err} step={step}");
            }
            assert!(x.signum() * y.signum() >= 0, "sign flipped for {x}");
        }
    }

    #[test]
    fn decode_is_monotonic_in_magnitude() {
        // Bytes 0x80..=0xFF are positive from loudest to zero.
        for b in 0x80..0xFFu8 {
            assert!(decode_sample(b) > decode_sample(b + 1));
            assert_eq!(decode_sample(b), -decode_sample(b & 0x7F));
        }
    }

    #[test]
    fn buffer_variants_agree() {
        let pcm: Vec<i16> = (0..400)
            .map(|i| ((i * 977) % 65536 - 32768) as i16)
            .collect();
        let enc = encode(&pcm);
        let mut enc2 = vec![0u8; pcm.len()];
        assert_eq!(encode_into(&pcm, &mut enc2), pcm.len());
        assert_eq!(enc, enc2);
        let dec = decode(&enc);
        let mut dec2 = vec![0i16; 10];
        assert_eq!(decode_into(&enc, &mut dec2), 10);
        assert_eq!(&dec[..10], &dec2[..]);
        let mut dec3 = Vec::new();
        decode_extend(&enc, &mut dec3);
        assert_eq!(dec, dec3);
        let mut enc3 = Vec::new();
        encode_extend(&pcm, &mut enc3);
        assert_eq!(enc, enc3);
    }
}
