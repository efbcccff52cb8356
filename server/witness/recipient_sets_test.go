package witness

import (
	"testing"

	"testimony/records"
)

// TestWitnessRecordsRecipientSet: a submission records the recipient set
// it was encrypted to, in its own commit, so the investigator site can say
// whose key opens it even when the set changed before anyone listed cases.
func TestWitnessRecordsRecipientSet(t *testing.T) {
	e := newWitEnv(t, Config{})
	if st, page := e.submit(part{name: "account", body: "taken off the plane in Cairo"}); st != 200 {
		t.Fatalf("submit: %d\n%s", st, page)
	}
	items, err := e.db.Items()
	if err != nil || len(items) != 1 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	sets, err := records.RecipientSets(e.db)
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := sets[items[0].Recipients]
	if !ok {
		t.Fatalf("the set %s of the submitted item is not recorded (recorded: %d sets)", items[0].Recipients, len(sets))
	}
	if len(keys) != len(e.ids) {
		t.Errorf("recorded set has %d keys, want %d", len(keys), len(e.ids))
	}
}
