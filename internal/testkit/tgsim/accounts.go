package tgsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/crypto/srp"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/gotd/td/tgtest"
)

// user is a simulated account.
type user struct {
	id, accessHash int64
	phone          string // digits only
	firstName      string

	// Cloud password: salts and the SRP verifier v = g^x mod p. The
	// password itself is not kept.
	hasPassword  bool
	salt1, salt2 []byte
	verifier     *big.Int

	joined  map[int64]bool // channels joined
	seenPts map[int64]int  // per channel: pts the user's sessions have been given
}

// keyState is what the server knows about one auth key.
type keyState struct {
	userID    int64  // authorized user, 0 when not authorized
	pending   int64  // user that passed the code step and owes its password
	unauthErr string // 401 message for a key that is not authorized
	imported  bool   // authorized by auth.importAuthorization (a media DC key)
	srp       *srpState
	sessions  []sessionRef // most recently active last
}

type sessionRef struct {
	srv  *tgtest.Server
	sess tgtest.Session
}

// srpState is the server half of one account.getPassword answer.
type srpState struct {
	id     int64
	userID int64
	b      *big.Int // server secret
	bPub   []byte   // B, 256 bytes
}

// keyFor returns the state of the request's auth key and records the
// session as its most recent one. s.mu must be held.
func (s *Sim) keyFor(srv *tgtest.Server, req *tgtest.Request) *keyState {
	ks, ok := s.authKeys[req.Session.AuthKey.ID]
	if !ok {
		ks = &keyState{}
		s.authKeys[req.Session.AuthKey.ID] = ks
	}
	for i, r := range ks.sessions {
		if r.srv == srv && r.sess.ID == req.Session.ID {
			ks.sessions = append(ks.sessions[:i], ks.sessions[i+1:]...)
			break
		}
	}
	ks.sessions = append(ks.sessions, sessionRef{srv: srv, sess: req.Session})
	if len(ks.sessions) > 8 {
		ks.sessions = ks.sessions[len(ks.sessions)-8:]
	}
	return ks
}

func normPhone(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SRP group: Telegram's 2048-bit safe prime with g = 3.
var (
	srpG    = 3
	srpPHex = "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F" +
		"48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37" +
		"20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64" +
		"2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4" +
		"A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754" +
		"FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4" +
		"E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F" +
		"0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"
	srpPBytes, _ = hex.DecodeString(srpPHex)
	srpP         = new(big.Int).SetBytes(srpPBytes)
)

func pad256(b []byte) []byte {
	if len(b) >= 256 {
		return b[len(b)-256:]
	}
	out := make([]byte, 256)
	copy(out[256-len(b):], b)
	return out
}

func sha(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// srpK is k = H(p | g) of Telegram's SRP.
func srpK() *big.Int {
	return new(big.Int).SetBytes(sha(srpPBytes, pad256(big.NewInt(int64(srpG)).Bytes())))
}

// AddUser creates an account and returns its user id. With a non-empty
// password the account has a cloud password (2FA); only its SRP verifier is
// stored. Adding an existing phone replaces nothing and returns its id.
func (s *Sim) AddUser(phone, password, firstName string) int64 {
	phone = normPhone(phone)
	s.mu.Lock()
	if u, ok := s.byPhone[phone]; ok {
		s.mu.Unlock()
		return u.id
	}
	s.mu.Unlock()

	u := &user{
		accessHash: randInt64(),
		phone:      phone,
		firstName:  firstName,
		joined:     map[int64]bool{},
		seenPts:    map[int64]int{},
	}
	if password != "" {
		// The verifier comes from gotd's own client-side derivation
		// (PBKDF2-HMAC-SHA512, 100000 rounds), exactly what a client
		// setting the password would upload: NewHash appends 32 random
		// bytes to salt1 and returns v = g^x mod p.
		salt2 := randBytes(16)
		v, salt1, err := srp.NewSRP(crypto.DefaultRand()).NewHash([]byte(password), srp.Input{
			Salt1: randBytes(8),
			Salt2: salt2,
			G:     srpG,
			P:     srpPBytes,
		})
		if err != nil {
			panic(fmt.Sprintf("tgsim: SRP verifier: %v", err))
		}
		u.hasPassword = true
		u.salt1, u.salt2 = salt1, salt2
		u.verifier = new(big.Int).SetBytes(v)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byPhone[phone]; ok {
		return old.id
	}
	u.id = 5000000 + s.newID()
	s.users[u.id] = u
	s.byPhone[phone] = u
	return u.id
}

// RevokeSessions terminates every authorization of the account, as
// "terminate all other sessions" does: from now every call needing
// authorization on those auth keys answers 401 AUTH_KEY_UNREGISTERED. The
// keys stay known to the server, so a fresh login on them works.
func (s *Sim) RevokeSessions(phone string) {
	s.RevokeSessionsWith(phone, "AUTH_KEY_UNREGISTERED")
}

// RevokeSessionsWith is RevokeSessions answering the given 401 error message
// instead, e.g. "SESSION_REVOKED" or "SESSION_EXPIRED".
func (s *Sim) RevokeSessionsWith(phone, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.byPhone[normPhone(phone)]
	if !ok {
		return
	}
	for _, ks := range s.authKeys {
		if ks.userID == u.id || ks.pending == u.id {
			ks.userID, ks.pending, ks.srp, ks.imported = 0, 0, nil, false
			ks.unauthErr = message
		}
	}
}

func (s *Sim) authorize(c *call, u *user, imported bool) *tg.AuthAuthorization {
	c.key.userID = u.id
	c.key.pending = 0
	c.key.srp = nil
	c.key.unauthErr = ""
	c.key.imported = imported
	return &tg.AuthAuthorization{User: s.selfUser(u)}
}

func (s *Sim) selfUser(u *user) *tg.User {
	return &tg.User{
		Self:       true,
		ID:         u.id,
		AccessHash: u.accessHash,
		FirstName:  u.firstName,
		Phone:      u.phone,
		Status:     &tg.UserStatusOnline{Expires: now() + 300},
	}
}

func (s *Sim) currentUser(c *call) *user {
	return s.users[c.key.userID]
}

func (s *Sim) authSendCode(c *call) (bin.Encoder, error) {
	var r tg.AuthSendCodeRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	phone := normPhone(r.PhoneNumber)
	if _, ok := s.byPhone[phone]; !ok || phone == "" {
		return nil, tgerr.New(400, "PHONE_NUMBER_INVALID")
	}
	hash := hex.EncodeToString(randBytes(9))
	s.codes[hash] = phone
	return &tg.AuthSentCode{
		Type:          &tg.AuthSentCodeTypeApp{Length: len(s.opts.Code)},
		PhoneCodeHash: hash,
		Timeout:       60,
	}, nil
}

func (s *Sim) authSignIn(c *call) (bin.Encoder, error) {
	var r tg.AuthSignInRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	phone := normPhone(r.PhoneNumber)
	if r.PhoneCodeHash == "" {
		return nil, tgerr.New(400, "PHONE_CODE_HASH_EMPTY")
	}
	if s.codes[r.PhoneCodeHash] != phone {
		return nil, tgerr.New(400, "PHONE_CODE_EXPIRED")
	}
	if r.PhoneCode == "" {
		return nil, tgerr.New(400, "PHONE_CODE_EMPTY")
	}
	if r.PhoneCode != s.opts.Code {
		return nil, tgerr.New(400, "PHONE_CODE_INVALID")
	}
	delete(s.codes, r.PhoneCodeHash)
	u := s.byPhone[phone]
	if u.hasPassword {
		c.key.userID = 0
		c.key.pending = u.id
		return nil, tgerr.New(401, "SESSION_PASSWORD_NEEDED")
	}
	return s.authorize(c, u, false), nil
}

func srpAlgo(salt1, salt2 []byte) *tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow {
	return &tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
		Salt1: append([]byte(nil), salt1...),
		Salt2: append([]byte(nil), salt2...),
		G:     srpG,
		P:     append([]byte(nil), srpPBytes...),
	}
}

func (s *Sim) accountGetPassword(c *call) (bin.Encoder, error) {
	var r tg.AccountGetPasswordRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	uid := c.key.userID
	if uid == 0 {
		uid = c.key.pending
	}
	u, ok := s.users[uid]
	if !ok {
		return nil, tgerr.New(401, "AUTH_KEY_UNREGISTERED")
	}
	res := &tg.AccountPassword{
		NewAlgo:       srpAlgo(randBytes(8), randBytes(16)),
		NewSecureAlgo: &tg.SecurePasswordKdfAlgoSHA512{Salt: randBytes(8)},
		SecureRandom:  randBytes(256),
	}
	if !u.hasPassword {
		return res, nil
	}
	// B = k*v + g^b mod p, with a fresh secret b per request.
	b := new(big.Int).SetBytes(randBytes(256))
	gb := new(big.Int).Exp(big.NewInt(int64(srpG)), b, srpP)
	kv := new(big.Int).Mul(srpK(), u.verifier)
	bPub := new(big.Int).Add(kv, gb)
	bPub.Mod(bPub, srpP)
	st := &srpState{id: randInt64(), userID: u.id, b: b, bPub: pad256(bPub.Bytes())}
	c.key.srp = st

	res.HasPassword = true
	res.CurrentAlgo = srpAlgo(u.salt1, u.salt2)
	res.SRPB = append([]byte(nil), st.bPub...)
	res.SRPID = st.id
	res.NewAlgo = srpAlgo(u.salt1[:8], u.salt2)
	return res, nil
}

// srpVerify checks the client's SRP proof M1 for the public value A the way
// an SRP-6a server does: S = (A * v^u)^b mod p, K = H(S),
// M1 = H(H(p) xor H(g), H(salt1), H(salt2), A, B, K).
func srpVerify(u *user, st *srpState, aPub, m1 []byte) bool {
	a := new(big.Int).SetBytes(aPub)
	one := big.NewInt(1)
	pm1 := new(big.Int).Sub(srpP, one)
	if a.Cmp(one) <= 0 || a.Cmp(pm1) >= 0 {
		return false
	}
	aPad := pad256(a.Bytes())
	uHash := new(big.Int).SetBytes(sha(aPad, st.bPub))
	if uHash.Sign() == 0 {
		return false
	}
	vu := new(big.Int).Exp(u.verifier, uHash, srpP)
	base := new(big.Int).Mul(a, vu)
	base.Mod(base, srpP)
	sInt := new(big.Int).Exp(base, st.b, srpP)
	k := sha(pad256(sInt.Bytes()))

	gPad := pad256(big.NewInt(int64(srpG)).Bytes())
	hp, hg := sha(srpPBytes), sha(gPad)
	x := make([]byte, len(hp))
	for i := range hp {
		x[i] = hp[i] ^ hg[i]
	}
	want := sha(x, sha(u.salt1), sha(u.salt2), aPad, st.bPub, k)
	return subtle.ConstantTimeCompare(want, m1) == 1
}

func (s *Sim) authCheckPassword(c *call) (bin.Encoder, error) {
	var r tg.AuthCheckPasswordRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	in, ok := r.Password.(*tg.InputCheckPasswordSRP)
	if !ok {
		return nil, tgerr.New(400, "PASSWORD_HASH_INVALID")
	}
	st := c.key.srp
	if st == nil || st.id != in.SRPID {
		return nil, tgerr.New(400, "SRP_ID_INVALID")
	}
	c.key.srp = nil // one proof per srp_id
	u, ok := s.users[st.userID]
	if !ok || (c.key.pending != u.id && c.key.userID != u.id) {
		return nil, tgerr.New(400, "SRP_ID_INVALID")
	}
	if !srpVerify(u, st, in.A, in.M1) {
		return nil, tgerr.New(400, "PASSWORD_HASH_INVALID")
	}
	return s.authorize(c, u, false), nil
}

func (s *Sim) authLogOut(c *call) (bin.Encoder, error) {
	var r tg.AuthLogOutRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	c.key.userID, c.key.pending, c.key.srp, c.key.imported = 0, 0, nil, false
	return &tg.AuthLoggedOut{}, nil
}

func (s *Sim) authExportAuthorization(c *call) (bin.Encoder, error) {
	var r tg.AuthExportAuthorizationRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	if _, ok := s.servers[r.DCID]; !ok || r.DCID == c.dc() {
		return nil, tgerr.New(400, "DC_ID_INVALID")
	}
	b := randBytes(32)
	s.exported[string(b)] = c.key.userID
	return &tg.AuthExportedAuthorization{ID: c.key.userID, Bytes: b}, nil
}

func (s *Sim) authImportAuthorization(c *call) (bin.Encoder, error) {
	var r tg.AuthImportAuthorizationRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	uid, ok := s.exported[string(r.Bytes)]
	if !ok || uid != r.ID {
		return nil, tgerr.New(400, "AUTH_BYTES_INVALID")
	}
	delete(s.exported, string(r.Bytes))
	u, ok := s.users[uid]
	if !ok {
		return nil, tgerr.New(400, "AUTH_BYTES_INVALID")
	}
	return s.authorize(c, u, true), nil
}

func (s *Sim) usersGetUsers(c *call) (bin.Encoder, error) {
	var r tg.UsersGetUsersRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	me := s.currentUser(c)
	out := &tg.UserClassVector{}
	for _, in := range r.ID {
		switch in := in.(type) {
		case *tg.InputUserSelf:
			out.Elems = append(out.Elems, s.selfUser(me))
		case *tg.InputUser:
			if in.UserID == me.id {
				out.Elems = append(out.Elems, s.selfUser(me))
				continue
			}
			if u, ok := s.users[in.UserID]; ok && u.accessHash == in.AccessHash {
				out.Elems = append(out.Elems, &tg.User{ID: u.id, AccessHash: u.accessHash, FirstName: u.firstName})
				continue
			}
			out.Elems = append(out.Elems, &tg.UserEmpty{ID: in.UserID})
		default:
			return nil, tgerr.New(400, "USER_ID_INVALID")
		}
	}
	return out, nil
}
