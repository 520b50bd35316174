package rules

import "testing"

// external_message is off by default; written, its keys are read as given.
func TestExternalMessageKeys(t *testing.T) {
	r, err := Load("default.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if em := r.ExternalMessage; em != (ExternalMessage{}) {
		t.Fatalf("default external_message = %+v, want off (no status page, nothing notified, nothing closed)", em)
	}
	r, err = Load("set.yaml", []byte("version: 1\nexternal_message:\n  status_page: PSTATUS1\n  notify_subscribers: true\n  close_without_external_message: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if em := r.ExternalMessage; em != (ExternalMessage{StatusPage: "PSTATUS1", NotifySubscribers: true, CloseWithoutExternalMessage: true}) {
		t.Fatalf("external_message = %+v", em)
	}
}
