//! WAV (RIFF) reading and writing, because every audio source mokdan meets speaks it:
//! espeak-ng (including its streaming header on stdout), cloud text-to-speech, Twilio
//! recordings, and the prompts we serve back to Twilio as 8 kHz mu-law files.
//!
//! The reader treats its input as untrusted: it never panics, never allocates more than
//! the input length implies (nor lets a lying sample rate make its callers' resampling
//! do so), skips chunks it does not know (`LIST`, `fact`, ...), and
//! when the `data` size is larger than what is left (espeak-ng writes `0x7FFFF000`-ish
//! or `0xFFFFFFFF` sizes when streaming) it uses the bytes that are actually there.

use crate::mulaw;

const PCM: u16 = 1;
const IEEE_FLOAT: u16 = 3;
const MULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xFFFE;
/// Sample rates a real recording or voice can have. Outside them the header is lying, and
/// believing it is dangerous: every caller resamples to 8 kHz next, and a claimed 4 GHz
/// (or 1 Hz) rate asks the resampler for gigabytes.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Decoded audio: interleaved 16-bit samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wav {
    pub sample_rate: u32,
    pub channels: u16,
    /// Interleaved by channel.
    pub samples: Vec<i16>,
}

/// Why a byte buffer is not a WAV this module can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    #[error("not a RIFF/WAVE file")]
    NotWav,
    #[error("WAV has no fmt chunk")]
    MissingFmt,
    #[error("WAV has no data chunk")]
    MissingData,
    #[error("WAV fmt chunk is malformed")]
    BadFmt,
    #[error("unsupported WAV encoding: format tag {format}, {bits} bits per sample")]
    Unsupported { format: u16, bits: u16 },
}

#[derive(Debug, Clone, Copy)]
struct Fmt {
    format: u16,
    channels: u16,
    sample_rate: u32,
    bits: u16,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn parse_fmt(body: &[u8]) -> Result<Fmt, WavError> {
    let mut format = u16_at(body, 0).ok_or(WavError::BadFmt)?;
    let channels = u16_at(body, 2).ok_or(WavError::BadFmt)?;
    let sample_rate = u32_at(body, 4).ok_or(WavError::BadFmt)?;
    let bits = u16_at(body, 14).ok_or(WavError::BadFmt)?;
    if format == EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: the real tag is the first two bytes of the sub-format GUID.
        format = u16_at(body, 24).ok_or(WavError::BadFmt)?;
    }
    if channels == 0 || !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(WavError::BadFmt);
    }
    Ok(Fmt {
        format,
        channels,
        sample_rate,
        bits,
    })
}

/// Parses a WAV file held in memory.
pub fn read(bytes: &[u8]) -> Result<Wav, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut fmt = None;
    let mut data = None;
    let mut at = 12usize;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32_at(bytes, at + 4).unwrap_or(0) as usize;
        let body_start = at + 8;
        let available = bytes.len() - body_start;
        let body = &bytes[body_start..body_start + size.min(available)];
        match id {
            b"fmt " => fmt = Some(parse_fmt(body)?),
            b"data" => {
                data = Some(body);
                if fmt.is_some() {
                    break;
                }
            }
            _ => {}
        }
        // Chunks are padded to even sizes.
        at = match body_start
            .checked_add(size)
            .and_then(|e| e.checked_add(size & 1))
        {
            Some(next) => next,
            None => break,
        };
    }
    let fmt = fmt.ok_or(WavError::MissingFmt)?;
    let data = data.ok_or(WavError::MissingData)?;
    let samples = decode_data(fmt, data)?;
    Ok(Wav {
        sample_rate: fmt.sample_rate,
        channels: fmt.channels,
        samples,
    })
}

fn decode_data(fmt: Fmt, data: &[u8]) -> Result<Vec<i16>, WavError> {
    let unsupported = WavError::Unsupported {
        format: fmt.format,
        bits: fmt.bits,
    };
    let width = match (fmt.format, fmt.bits) {
        (PCM, 8) | (MULAW, 8) => 1,
        (PCM, 16) => 2,
        (PCM, 24) => 3,
        (PCM, 32) | (IEEE_FLOAT, 32) => 4,
        _ => return Err(unsupported),
    };
    // Whole sample frames only: a truncated tail is dropped.
    let frame = width * usize::from(fmt.channels);
    let usable = data.len() - data.len() % frame;
    let data = &data[..usable];
    let samples = match (fmt.format, width) {
        (MULAW, _) => mulaw::decode(data),
        (_, 1) => data.iter().map(|&b| (i16::from(b) - 128) << 8).collect(),
        (_, 2) => data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect(),
        (_, 3) => data
            .chunks_exact(3)
            .map(|c| i16::from_le_bytes([c[1], c[2]]))
            .collect(),
        (IEEE_FLOAT, _) => data
            .chunks_exact(4)
            .map(|c| {
                let f = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let f = if f.is_finite() { f } else { 0.0 };
                (f * 32768.0).round().clamp(-32768.0, 32767.0) as i16
            })
            .collect(),
        _ => data
            .chunks_exact(4)
            .map(|c| i16::from_le_bytes([c[2], c[3]]))
            .collect(),
    };
    Ok(samples)
}

impl Wav {
    /// Averages all channels into one.
    pub fn to_mono(&self) -> Wav {
        let channels = usize::from(self.channels.max(1));
        let samples = if channels == 1 {
            self.samples.clone()
        } else {
            self.samples
                .chunks_exact(channels)
                .map(|f| {
                    let sum: i32 = f.iter().map(|&s| i32::from(s)).sum();
                    (sum / channels as i32) as i16
                })
                .collect()
        };
        Wav {
            sample_rate: self.sample_rate,
            channels: 1,
            samples,
        }
    }

    /// Number of sample frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.samples.len() / usize::from(self.channels.max(1))
    }

    /// Playing time.
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.frames() as f64 / f64::from(self.sample_rate.max(1)),
        )
    }

    /// One channel's samples at `sample_rate` (channel 0 is the first); `None` when the
    /// file has no such channel. A dual-channel call recording keeps each speaker apart.
    pub fn channel_at(&self, channel: u16, sample_rate: u32) -> Option<Vec<i16>> {
        if channel >= self.channels {
            return None;
        }
        let step = usize::from(self.channels);
        let one: Vec<i16> = self
            .samples
            .iter()
            .skip(usize::from(channel))
            .step_by(step)
            .copied()
            .collect();
        Some(crate::resample::resample(
            &one,
            self.sample_rate,
            sample_rate,
        ))
    }

    /// Mono samples at `sample_rate`: mixes down and resamples as needed.
    pub fn mono_at(&self, sample_rate: u32) -> Vec<i16> {
        let mono = self.to_mono();
        crate::resample::resample(&mono.samples, mono.sample_rate, sample_rate)
    }
}

fn header(out: &mut Vec<u8>, riff_len: usize) {
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(riff_len.min(u32::MAX as usize) as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
}

fn data_chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len().min(u32::MAX as usize) as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// Writes a mono 16-bit PCM WAV.
pub fn write_pcm16(sample_rate: u32, samples: &[i16]) -> Vec<u8> {
    write_pcm16_channels(sample_rate, 1, samples)
}

/// Writes a two-channel 16-bit PCM WAV, `left` and `right` interleaved; the shorter is
/// padded with silence. Twilio's dual-channel call recordings have this form.
pub fn write_pcm16_stereo(sample_rate: u32, left: &[i16], right: &[i16]) -> Vec<u8> {
    let frames = left.len().max(right.len());
    let mut interleaved = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        interleaved.push(left.get(i).copied().unwrap_or(0));
        interleaved.push(right.get(i).copied().unwrap_or(0));
    }
    write_pcm16_channels(sample_rate, 2, &interleaved)
}

fn write_pcm16_channels(sample_rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data_len = samples.len() * 2;
    let mut out = Vec::with_capacity(44 + data_len);
    header(&mut out, 36 + data_len);
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&PCM.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    let block = 2 * u32::from(channels);
    out.extend_from_slice(&(sample_rate.saturating_mul(block)).to_le_bytes());
    out.extend_from_slice(&(block as u16).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len.min(u32::MAX as usize) as u32).to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Writes a mono G.711 mu-law WAV (format tag 7, 8 bits, with a `fact` chunk), the form
/// Twilio's `<Play>` accepts for 8 kHz telephone audio. `sample_rate` is normally 8000.
pub fn write_mulaw(sample_rate: u32, mulaw_bytes: &[u8]) -> Vec<u8> {
    let pad = mulaw_bytes.len() % 2;
    // "WAVE" + fmt(8+18) + fact(8+4) + data(8+len+pad)
    let riff_len = 4 + 26 + 12 + 8 + mulaw_bytes.len() + pad;
    let mut out = Vec::with_capacity(8 + riff_len);
    header(&mut out, riff_len);
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&MULAW.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"fact");
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&(mulaw_bytes.len().min(u32::MAX as usize) as u32).to_le_bytes());
    data_chunk(&mut out, mulaw_bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| (((i * 263) % 60000) as i32 - 30000) as i16)
            .collect()
    }

    #[test]
    fn pcm16_round_trip() {
        let pcm = ramp(1001);
        let bytes = write_pcm16(16000, &pcm);
        assert_eq!(bytes.len(), 44 + 2002);
        let wav = read(&bytes).unwrap();
        assert_eq!(wav.sample_rate, 16000);
        assert_eq!(wav.channels, 1);
        assert_eq!(wav.samples, pcm);
        assert_eq!(
            wav.duration(),
            std::time::Duration::from_secs_f64(1001.0 / 16000.0)
        );
    }

    #[test]
    fn mulaw_round_trip_with_fact_chunk() {
        let ulaw = mulaw::encode(&ramp(801));
        let bytes = write_mulaw(8000, &ulaw);
        assert_eq!(&bytes[38..42], b"fact");
        assert_eq!(u32_at(&bytes, 46), Some(801));
        assert_eq!(&bytes[50..54], b"data");
        assert_eq!(u16_at(&bytes, 20), Some(7));
        assert_eq!(u32_at(&bytes, 4), Some(bytes.len() as u32 - 8));
        assert_eq!(bytes.len() % 2, 0);
        let wav = read(&bytes).unwrap();
        assert_eq!(wav.sample_rate, 8000);
        assert_eq!(wav.samples, mulaw::decode(&ulaw));
    }

    fn build(fmt_body: &[u8], extra: &[(&[u8; 4], &[u8])], data: &[u8], data_size: u32) -> Vec<u8> {
        let mut b = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
        for (id, body) in extra {
            b.extend_from_slice(*id);
            b.extend_from_slice(&(body.len() as u32).to_le_bytes());
            b.extend_from_slice(body);
            if body.len() % 2 == 1 {
                b.push(0);
            }
        }
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&(fmt_body.len() as u32).to_le_bytes());
        b.extend_from_slice(fmt_body);
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_size.to_le_bytes());
        b.extend_from_slice(data);
        b
    }

    fn fmt(format: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&format.to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&rate.wrapping_mul(u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        f
    }

    #[test]
    fn streaming_header_uses_the_remaining_bytes() {
        for size in [0x7FFF_FFFF, 0xFFFF_FFFF, 0x7FFF_F000] {
            let data: Vec<u8> = [100i16, -200, 300]
                .iter()
                .flat_map(|s| s.to_le_bytes())
                .collect();
            let bytes = build(&fmt(PCM, 1, 22050, 16), &[], &data, size);
            let wav = read(&bytes).unwrap();
            assert_eq!(wav.samples, vec![100, -200, 300]);
            assert_eq!(wav.sample_rate, 22050);
        }
    }

    #[test]
    fn skips_unknown_chunks_and_reads_8bit_and_stereo() {
        let list: &[u8] = b"INFOISFT\x05\x00\x00\x00odd!\x00";
        let bytes = build(
            &fmt(PCM, 2, 8000, 8),
            &[(b"LIST", list), (b"junk", b"x")],
            &[128, 255, 0, 128],
            4,
        );
        let wav = read(&bytes).unwrap();
        assert_eq!(wav.channels, 2);
        assert_eq!(wav.samples, vec![0, 127 << 8, -32768, 0]);
        let mono = wav.to_mono();
        assert_eq!(mono.channels, 1);
        assert_eq!(mono.samples, vec![(127 << 8) / 2, -16384]);
        assert_eq!(wav.frames(), 2);
    }

    #[test]
    fn reads_float_24bit_and_extensible() {
        let data: Vec<u8> = [0.5f32, -1.0, 2.0]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let wav = read(&build(&fmt(IEEE_FLOAT, 1, 24000, 32), &[], &data, 12)).unwrap();
        assert_eq!(wav.samples, vec![16384, -32768, 32767]);
        let data = [0x00, 0x34, 0x12, 0xFF, 0xFF, 0xFF];
        let wav = read(&build(&fmt(PCM, 1, 48000, 24), &[], &data, 6)).unwrap();
        assert_eq!(wav.samples, vec![0x1234, -1]);
        let mut ext = fmt(EXTENSIBLE, 1, 16000, 16);
        ext.extend_from_slice(&[22, 0, 16, 0, 4, 0, 0, 0, 1, 0]);
        ext.extend_from_slice(&[0; 14]);
        let wav = read(&build(&ext, &[], &[1, 0, 2, 0], 4)).unwrap();
        assert_eq!(wav.samples, vec![1, 2]);
    }

    #[test]
    fn rejects_bad_input_without_panicking() {
        assert_eq!(read(b""), Err(WavError::NotWav));
        assert_eq!(read(b"RIFF\0\0\0\0WAVX"), Err(WavError::NotWav));
        assert_eq!(read(b"RIFF\0\0\0\0WAVE"), Err(WavError::MissingFmt));
        let good = write_pcm16(8000, &ramp(50));
        // Every truncation either parses or errors; none panics.
        for n in 0..good.len() {
            let _ = read(&good[..n]);
        }
        assert_eq!(read(&good[..40]), Err(WavError::MissingData));
        assert_eq!(read(&good[..45]).unwrap().samples, Vec::<i16>::new());
        assert_eq!(read(&good[..47]).unwrap().samples.len(), 1);
        let bytes = build(&fmt(6, 1, 8000, 8), &[], &[1, 2], 2);
        assert_eq!(
            read(&bytes),
            Err(WavError::Unsupported { format: 6, bits: 8 })
        );
        let bytes = build(&fmt(PCM, 0, 8000, 16), &[], &[1, 2], 2);
        assert_eq!(read(&bytes), Err(WavError::BadFmt));
        assert_eq!(read(&build(&[1, 0], &[], &[], 0)), Err(WavError::BadFmt));
        // Chunk sizes near u32::MAX do not overflow the cursor.
        let mut huge = b"RIFF\0\0\0\0WAVEjunk\xff\xff\xff\xff".to_vec();
        huge.extend_from_slice(&[0; 16]);
        assert_eq!(read(&huge), Err(WavError::MissingFmt));
    }

    #[test]
    fn lying_sample_rates_are_refused() {
        // Found by fuzzing: resampling a 4 GHz "recording" to 8 kHz asked for 6 GB.
        for rate in [1, 999, 384_001, 4_294_967_291] {
            let bytes = build(&fmt(PCM, 1, rate, 16), &[], &[1, 0, 2, 0], 4);
            assert_eq!(read(&bytes), Err(WavError::BadFmt), "{rate} Hz");
        }
        let bytes = build(&fmt(PCM, 1, 384_000, 16), &[], &[1, 0, 2, 0], 4);
        assert_eq!(read(&bytes).unwrap().mono_at(8000).len(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        // A tiny xorshift fuzz over headers with random mutations.
        let base = write_mulaw(8000, &[0x55; 64]);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % b.len() as u64) as usize;
                b[i] = (state >> 32) as u8;
            }
            let cut = ((state >> 40) % (b.len() as u64 + 1)) as usize;
            if let Ok(w) = read(&b[..cut]) {
                assert!(w.samples.len() <= cut);
            }
        }
    }

    #[test]
    fn a_dual_channel_recording_keeps_each_speaker_on_its_channel() {
        let caller = vec![1000i16; 80];
        let agent = vec![-2000i16; 40];
        let wav = read(&write_pcm16_stereo(8000, &caller, &agent)).unwrap();
        assert_eq!((wav.channels, wav.frames()), (2, 80));
        assert_eq!(wav.channel_at(0, 8000).unwrap(), caller);
        let right = wav.channel_at(1, 8000).unwrap();
        assert_eq!(&right[..40], &agent[..]);
        assert!(right[40..].iter().all(|&s| s == 0));
        assert!(wav.channel_at(2, 8000).is_none());
    }
}
