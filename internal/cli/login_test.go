package cli

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"
	"time"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn signs in through the real form, as a fresh browser would (a
// cookie jar, the form's CSRF token), and returns the status of the
// dashboard it lands on, or of the form's answer when the sign-in fails.
func signIn(t *testing.T, base, user, password string) int {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Jar: jar}
	// The form has a CSRF token once the session key is loaded from the
	// store; on PostgreSQL the store connects in the background, so a
	// server that just started may not have it yet.
	var m [][]byte
	var resp *http.Response
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err = client.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		form, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if m = csrfField.FindSubmatch(form); m != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /login: %d, no CSRF token in %.300s", resp.StatusCode, form)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err = client.PostForm(base+"/login", url.Values{"csrf": {string(m[1])}, "username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
