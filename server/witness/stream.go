package witness

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
	"testimony/store"
)

// A large upload is not spooled: spooling reads every file twice (into the
// spool, then into the envelope), and for a 1 GiB video that second pass
// kept the witness waiting seconds for a receipt after their last byte.
// Instead its files are written straight into a store item as they arrive
// (crypto.StreamEnvelope), with room kept at the start for the manifest,
// which is written once the answers are all in and valid. streamPlan says
// whom the item is for and what its manifest may hold; a small body's
// files are spooled.
type streamPlan struct {
	rs *crypto.Recipients
	// worst returns the longest manifest, without attachments, that the
	// request can still give, given the text values read so far and the
	// text bytes it may still send.
	worst func(v form.Values, textLeft int) *crypto.Manifest
	// allow, if set, says from the text values read so far whether the
	// files may be streamed into the store; when it says no they are
	// spooled, so that a request refused later leaves the store untouched.
	allow func(v form.Values) bool
}

// defaultStreamMin is the body size above which files are streamed (the
// site's lim.streamMin, which tests lower to stream small bodies): below
// it the room kept for the manifest would weigh on the object's size, and
// the second pass over the spool costs little. A body of unknown length is
// streamed.
const defaultStreamMin = 8 << 20

// maxRoom is the most room a streamed upload keeps for its manifest; a
// form whose manifest could be longer (free text after its files) spools.
const maxRoom = 1 << 20

// maxTypeLen bounds a file's media type as contentType returns it.
const maxTypeLen = 100

// streamSlots bounds the uploads streamed at once: each holds an item
// writer's few MiB of chunks for as long as it lasts, which over Tor can be
// long. The others spool.
const streamSlots = 4

// startStream makes u stream its files in place of spooling them, if the
// request is large, the plan allows it and a slot is free. name and typ are
// of its first file.
func (s *Site) startStream(u *upload, plan *streamPlan, r *http.Request, textLeft int, name, typ string) error {
	if (r.ContentLength >= 0 && r.ContentLength <= s.lim.streamMin) || s.cfg.MaxFile > crypto.MaxStreamAttachment {
		return nil
	}
	if plan.allow != nil && !plan.allow(u.values) {
		return nil
	}
	room, err := s.roomFor(plan.worst(u.values, textLeft), crypto.Attachment{Name: name, Type: typ})
	if err != nil || room > maxRoom {
		return nil
	}
	select {
	case s.streams <- struct{}{}:
	default:
		return nil
	}
	iw := s.db.NewItem()
	env, err := crypto.NewStreamEnvelope(iw, plan.rs, room)
	if err != nil {
		iw.Abort()
		<-s.streams
		return err
	}
	u.sink.remove() // the spool, still empty
	u.sink = &streamed{iw: iw, env: env, slot: s.streams}
	return nil
}

// roomFor is the room to keep for a manifest: the length of worst with
// first and then as many of the longest attachment entries as may follow.
func (s *Site) roomFor(worst *crypto.Manifest, first crypto.Attachment) (int, error) {
	m := *worst
	m.Day = "2006-01-02"
	m.Lang = s.longestLang()
	sha := strings.Repeat("0", 64)
	first.Size, first.SHA256 = math.MaxInt64, sha
	m.Attachments = []crypto.Attachment{first}
	// Quotes: the longest JSON for their length.
	long := crypto.Attachment{Name: strings.Repeat(`"`, crypto.MaxCleanName), Size: math.MaxInt64, SHA256: sha, Type: strings.Repeat(`"`, maxTypeLen)}
	for range crypto.MaxAttachments - 1 {
		m.Attachments = append(m.Attachments, long)
	}
	return crypto.ManifestLen(&m)
}

// longestLang is the longest language code a manifest may name.
func (s *Site) longestLang() string {
	l := web.DefaultLang
	if s.lang != nil {
		for _, c := range s.lang.langs {
			if len(c) > len(l) {
				l = c
			}
		}
	}
	return l
}

// streamed is a large upload whose files go straight into a store item, in
// one pass: see streamPlan.
type streamed struct {
	iw    *store.ItemWriter
	env   *crypto.StreamEnvelope
	files int
	slot  chan struct{}
}

// add streams r, within limit bytes, into the item as its next attachment.
func (st *streamed) add(r io.Reader, limit int64, name, typ string) (int64, error) {
	if err := st.env.Begin(name, typ); err != nil {
		return 0, err
	}
	n, err := io.Copy(st.env, io.LimitReader(r, limit+1))
	if err != nil {
		return 0, err
	}
	if n > limit {
		return 0, errFileTooLarge
	}
	if _, err := st.env.End(); err != nil {
		return 0, err
	}
	st.files++
	return n, nil
}

func (st *streamed) count() int { return st.files }

// commit writes the manifest into the room kept for it and commits.
func (st *streamed) commit(m *crypto.Manifest, it store.Item, with func(store.Tx) error) error {
	if err := st.env.Close(m); err != nil {
		if errors.Is(err, crypto.ErrNoRoom) {
			// Only a client that is not a browser gets here: the room
			// holds anything the form can send (see streamPlan).
			return &web.HTTPError{Status: http.StatusRequestEntityTooLarge, Msg: "error.textlong", Err: err}
		}
		return err
	}
	_, err := st.iw.CommitWith(it, with)
	return err
}

// remove aborts the item unless committed, and frees the slot.
func (st *streamed) remove() {
	if st.slot != nil {
		st.iw.Abort() // after Commit: nothing
		<-st.slot
		st.slot = nil
	}
}
