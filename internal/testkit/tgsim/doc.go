// Package tgsim is a simulated Telegram network for leakwatch's tests, its
// demo and the Telegram benchmark. It runs gotd's real MTProto test server
// (github.com/gotd/td/tgtest) in-process on 127.0.0.1 — two DCs, real key
// exchange, real encrypted sessions — and answers the RPCs a user-account
// channel monitor makes, so the production client (built on gotd/td) talks
// to it exactly as it talks to Telegram.
//
// What it simulates:
//
//   - accounts: phone + login code (auth.sendCode, auth.signIn), cloud
//     passwords with real SRP (account.getPassword, auth.checkPassword; the
//     server holds only the verifier v = g^x and checks the client's M1
//     proof), users.getUsers for self, session restore with the same auth
//     key, revoked sessions (401 AUTH_KEY_UNREGISTERED or SESSION_REVOKED),
//     auth export/import to the second DC;
//   - broadcast channels: public ones resolvable by @username, private ones
//     joinable by invite hash (messages.checkChatInvite,
//     messages.importChatInvite), channels.joinChannel,
//     channels.getFullChannel, messages.getHistory with Telegram's paging
//     rules (offset_id, offset_date, add_offset, limit ≤ 100, max_id,
//     min_id, newest first), channels.getMessages (messageEmpty for deleted
//     ids), edits and deletions with per-channel pts;
//   - media: documents (DocumentAttributeFilename) and photos (one "y"/"w"
//     size) served by upload.getFile in parts with Telegram's offset/limit
//     rules, file references that can expire (FILE_REFERENCE_EXPIRED, new
//     reference via channels.getMessages), upload.getFileHashes, files kept
//     on DC 2 behind 303 FILE_MIGRATE_2 when Options.FileDC is 2;
//   - updates: pushed UpdateNewChannelMessage with correct pts/pts_count,
//     updates.getState, updates.getDifference (updateChannelTooLong for
//     channels with news) and updates.getChannelDifference, enough for gotd's
//     telegram/updates manager to recover gaps;
//   - in-app reports: the multi-step messages.report and account.reportPeer,
//     recorded for inspection;
//   - faults: FLOOD_WAIT_N once for any method, FILE_REFERENCE_EXPIRED in the
//     middle of a download, deleted channels (CHANNEL_INVALID on resolve,
//     CHANNEL_PRIVATE for access by id), revoked sessions.
//
// What it does not simulate: sending messages, groups and supergroups,
// comments, reactions, contacts and dialogs lists, sign-up of unknown phone
// numbers (auth.sendCode answers PHONE_NUMBER_INVALID), CDN DCs, PFS temporary
// keys, per-user access hashes (one access hash per channel), the common pts
// sequence (it stays at 1: private messages do not exist here), server-side
// rate limits other than the injected FLOOD_WAITs, and anything not listed
// above, which answers 400 INPUT_METHOD_INVALID rather than dropping the
// connection.
//
// Only fixtures and tests import this package; the product never links it
// (see testkit.TestProductLinksNoFixture).
package tgsim
