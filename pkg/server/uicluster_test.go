package server_test

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/orch-project/orch/internal/testutil"
)

// The dashboard's cluster page showed the embedded etcd's client URL
// percent-escaped (unix://%2Ftmp%2F...%2Fclient.sock). It shows the socket's
// path now, one a user can find on disk.
func TestClusterPageShowsTheEtcdSocketPath(t *testing.T) {
	cp := testutil.StartServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) string {
		resp, err := c.Get(cp.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	login := get("/ui/login")
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(login)
	if m == nil {
		t.Fatalf("no nonce on the sign-in page:\n%s", login)
	}
	resp, err := c.PostForm(cp.URL+"/ui/login", url.Values{"nonce": {html.UnescapeString(m[1])}, "token": {cp.Bootstrap.AdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	page := get("/ui/cluster")
	sock := regexp.MustCompile(`unix://(/[^ <"]*client\.sock)`).FindStringSubmatch(page)
	if sock == nil || strings.Contains(page, "%2F") || strings.Contains(page, "unix%3A") {
		t.Fatalf("cluster page: want the etcd member's client URL as unix:///.../client.sock, got:\n%s", page)
	}
	if fi, err := os.Stat(sock[1]); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the path shown, %s, is not the etcd socket: %v", sock[1], err)
	}
}
