// Package evidence keeps court-grade records of what the crawlers fetched.
//
// It has four parts:
//
//   - [Writer] appends each fetch (an [Exchange]) to WARC/1.1 files as a
//     "request" record followed by a "response" record and returns a
//     [Record] locating the response record (file, offset, compressed
//     length) together with its digests.
//   - [ReadRecord] and [Verify] re-read records at their recorded offsets
//     and recompute every digest, so that a changed byte, a truncated file
//     or a moved record is reported as a [Problem] naming the record and the
//     file.
//   - [MerkleRoot] folds the payload digests of a run (and the block
//     digests of the redirects its fetches went through, see
//     [Capture.Leaf]) into one RFC 6962 Merkle tree hash, and [Stamp] /
//     [VerifyToken] obtain and check an RFC 3161 time-stamp token over that
//     root, so one token per run proves that every capture of the run
//     existed at the token's time.
//   - [Manifest] describes a run for counsel, and [WriteBundle] packs the
//     manifest, the referenced WARC files and the token into a tar.gz.
//
// # File layout
//
// A Writer owns one run directory, <dir>/<run-id>/. Records are appended to
// <dir>/<run-id>/<run-id>-00001.warc.gz, -00002.warc.gz, ... A new file is
// started when the next exchange would take the current file past
// [WriterOptions].MaxFileSize (default 1 GiB); an exchange is never split
// across files, so a file can exceed the cap by at most one exchange. A
// Writer opened on an existing run directory never appends to an existing
// file: it starts after the highest serial number found. Each file starts
// with a warcinfo record. Record.File is the path relative to dir, with
// forward slashes, e.g. "run-1/run-1-00001.warc.gz".
//
// Every record is its own gzip member (the usual ".warc.gz" convention), so
// a record is addressable by (file, offset, compressed length) and can be
// decompressed on its own. The request and response records of one exchange
// are always adjacent in the same file.
//
// # Streaming and spooling
//
// WARC headers carry Content-Length and the digests before the block, while
// payloads arrive as a stream that may be hundreds of megabytes long. The
// Writer therefore streams the payload once into a spool: the first
// [WriterOptions].SpoolMemory bytes (default 1 MiB) stay in memory and the
// rest goes to a temporary file in a private directory
// <dir>/<run-id>/.spool-*/ that is removed by Close. SHA-256 block and
// payload digests are computed while the payload streams in. The records are
// then serialised and gzip-compressed into a second spool (again memory
// first, then a temporary file), and only the final append of the
// compressed bytes to the WARC file is done under the writer's lock. Memory
// per exchange is therefore bounded by about twice SpoolMemory plus the
// compressor's state, independent of the payload size, and concurrent
// fetches only serialise on a file copy.
//
// The records are serialised by this package, following WARC/1.1, rather
// than by github.com/nlnwa/gowarc/v3. gowarc's record builder would fit
// streaming (it spools through its own disk buffer), but every
// NewRecordBuilder call runs uuid.EnableRandPool, an unsynchronised write to
// a global of github.com/google/uuid, so concurrent fetch goroutines (and
// any other code in the process calling uuid.New) race with it; and its
// file writer reports only uncompressed sizes and renames files on close,
// while evidence needs exact compressed offsets that are valid while the
// run is still being written. gowarc is used in this package's tests as an
// independent, strict validator of the files written here (record syntax,
// Content-Length, block and payload digests, offsets and sizes). Reading
// back ([ReadRecord], [Verify]) uses a parser written here on top of the
// standard library's compress/gzip, while the writer compresses with
// github.com/klauspost/compress.
//
// # Digests
//
// All digests are SHA-256. WARC-Block-Digest and WARC-Payload-Digest are
// written as "sha256:<64 lowercase hex digits>" (the encoding recommended
// for SHA-256 by the WARC community), Record.BlockDigest uses the same form,
// and Record.PayloadSHA256 is the bare hex digest. When reading, base32
// values are accepted as well.
//
// # What is recorded
//
// The HTTP request and response headers are serialised from the values the
// crawler passes in; net/http does not keep header order or the raw header
// bytes, so headers are written in sorted order. The payload must be the
// entity body as delivered by the transport: with transfer-coding (chunked)
// removed, which net/http always does and for which it also removes the
// Transfer-Encoding header, but with any content-coding (gzip, br) kept —
// the crawler must set Transport.DisableCompression or send its own
// Accept-Encoding so that net/http does not decompress silently. net/http
// also adds User-Agent and Accept-Encoding when they are missing; a crawler
// that wants them on record must set them itself.
//
// Each redirect a fetch follows is an exchange of its own, written before
// the final one; [Record].StatusCode and [Record].Location say what the
// response said (Location resolved to an absolute URL), and [Verify]
// checks them against the stored record.
//
// Non-standard facts are written as extension WARC fields: the proxy or
// onion route as "Leakwatch-Via" and the TLS peer certificate hash as
// "Leakwatch-Peer-Certificate: sha256:<hex>". WARC-Warcinfo-ID is not
// written because the target file is chosen only when the spooled exchange
// is appended; each file's leading warcinfo record describes the whole file.
//
// # Time stamps
//
// [Stamp] sends an RFC 3161 request (SHA-256 imprint, random nonce,
// certificate requested) and returns the TimeStampToken (the CMS
// SignedData), not the whole TimeStampResp. [VerifyToken] checks the
// token's CMS signature against the TSA certificate embedded in the token,
// that certificate's id-kp-timeStamping extended key usage and validity at
// the stamped time, and the message imprint. It does not check the TSA
// certificate chain up to a trusted root, nor revocation: that needs the
// TSA's published roots and is left to whoever relies on the token (for
// example openssl ts -verify -CAfile).
package evidence
