package witness

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
)

// The receipt is the page of the submit path: rendered once for every
// submission, and the same for every witness but for the codename's words.
// Its parts around the words are rendered once per language and state of
// the service (accepting or not), and each receipt is those parts joined
// with the words, so that a submission pays for no template execution.

// codenameSlot stands for a word of the codename when the parts are
// rendered: plain letters, which every context of a template writes as they
// are, and which no page text holds.
const codenameSlot = "zqxcodenameslotzqx"

// receiptParts is the receipt of one language and state: before the
// first word, between two words, after the last.
type receiptParts struct{ before, between, after []byte }

// receiptKey names a receipt's parts.
type receiptKey struct {
	lang   string
	closed bool
}

// receipts holds the parts made so far; a site makes at most one per
// offered language and state.
type receipts struct {
	mu sync.Mutex
	m  map[receiptKey]*receiptParts
}

// writeReceipt writes the receipt of codename in lang.
func (s *Site) writeReceipt(w http.ResponseWriter, lang, codename string) error {
	words := strings.Fields(codename)
	closed := s.Accepting() != nil
	p, err := s.receiptParts(lang, closed)
	if err != nil {
		return err
	}
	if p == nil || len(words) == 0 || !plainWords(words) {
		return s.renderWitness(w, http.StatusOK, "receipt", lang, receiptPage(words))
	}
	writeHTML(w, http.StatusOK, p.page(words))
	return nil
}

// page joins the parts with words.
func (p *receiptParts) page(words []string) []byte {
	n := len(p.before) + len(p.after) + (len(words)-1)*len(p.between)
	for _, wd := range words {
		n += len(wd)
	}
	b := make([]byte, 0, n)
	b = append(b, p.before...)
	for i, wd := range words {
		if i > 0 {
			b = append(b, p.between...)
		}
		b = append(b, wd...)
	}
	return append(b, p.after...)
}

// receiptPage is the receipt template's page for words.
func receiptPage(words []string) wPage { return wPage{Data: struct{ Words []string }{words}} }

// plainWords reports whether every word is lower-case ASCII letters, as
// the codename list's are: what a template writes unchanged.
func plainWords(words []string) bool {
	for _, wd := range words {
		for i := 0; i < len(wd); i++ {
			if wd[i] < 'a' || wd[i] > 'z' {
				return false
			}
		}
	}
	return true
}

// receiptParts returns the parts of the receipt in lang, rendering them
// the first time; nil (and no error) if the rendered page does not hold
// the two words where they were put, so that receipts are rendered whole.
func (s *Site) receiptParts(lang string, closed bool) (*receiptParts, error) {
	k := receiptKey{lang, closed}
	s.receipts.mu.Lock()
	defer s.receipts.mu.Unlock()
	if p, ok := s.receipts.m[k]; ok {
		return p, nil
	}
	rec := &bufferedResponse{header: http.Header{}}
	if err := s.render(rec, http.StatusOK, "receipt", lang, receiptPage([]string{codenameSlot, codenameSlot}), closed); err != nil {
		return nil, err
	}
	var p *receiptParts
	if parts := bytes.Split(rec.body.Bytes(), []byte(codenameSlot)); len(parts) == 3 {
		p = &receiptParts{before: parts[0], between: parts[1], after: parts[2]}
	}
	if s.receipts.m == nil {
		s.receipts.m = map[receiptKey]*receiptParts{}
	}
	s.receipts.m[k] = p
	return p, nil
}

// bufferedResponse is a ResponseWriter that keeps the page in memory.
type bufferedResponse struct {
	header http.Header
	body   bytes.Buffer
}

func (r *bufferedResponse) Header() http.Header         { return r.header }
func (r *bufferedResponse) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *bufferedResponse) WriteHeader(int)             {}
