//! HTTP plumbing shared by the cloud providers, so every provider turns a failed response
//! into the same [`ProviderError`] (status plus a body excerpt, for the logs) and reads
//! raw-PCM bodies the same way.

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::provider::ProviderError;

/// Passes a successful response through; turns any other status into
/// [`ProviderError::Http`] with an excerpt of the body.
pub(crate) async fn ensure_success(
    resp: reqwest::Response,
) -> Result<reqwest::Response, ProviderError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(ProviderError::http(status.as_u16(), &body))
}

/// Turns a body of little-endian 16-bit PCM, arriving in arbitrary byte chunks, into
/// sample chunks; an odd byte at a chunk boundary waits for its partner.
pub(crate) fn le_pcm_stream(
    body: impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
) -> impl Stream<Item = Result<Vec<i16>, ProviderError>> + Send + 'static {
    body.scan(None::<u8>, |carry, chunk| {
        let out = chunk.map_err(ProviderError::from).map(|bytes| {
            let mut samples = Vec::with_capacity(bytes.len() / 2 + 1);
            let mut iter = bytes.iter().copied();
            if let Some(lo) = carry.take() {
                match iter.next() {
                    Some(hi) => samples.push(i16::from_le_bytes([lo, hi])),
                    None => *carry = Some(lo),
                }
            }
            let rest: Vec<u8> = iter.collect();
            let mut pairs = rest.chunks_exact(2);
            samples.extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
            if let [odd] = pairs.remainder() {
                *carry = Some(*odd);
            }
            samples
        });
        futures::future::ready(Some(out))
    })
    .filter(|r| futures::future::ready(!matches!(r, Ok(v) if v.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn pcm_survives_odd_chunk_boundaries() {
        let samples: Vec<i16> = vec![1, -2, 300, -32768, 32767, 0, 12345];
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let chunks: Vec<Result<Bytes, reqwest::Error>> = vec![
            Ok(Bytes::copy_from_slice(&bytes[0..3])),
            Ok(Bytes::copy_from_slice(&bytes[3..4])),
            Ok(Bytes::copy_from_slice(&bytes[4..9])),
            Ok(Bytes::copy_from_slice(&bytes[9..])),
        ];
        let out: Vec<Vec<i16>> = le_pcm_stream(futures::stream::iter(chunks))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out.concat(), samples);
    }
}
