package commands

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/shell"
)

// TestErrorLinesGolden pins the one form of error lines: the object and what went
// wrong (`account "ops": already exists`), and for usage errors the command, the
// problem and its usage line. Each case is a batch: the command, then its answers.
func TestErrorLinesGolden(t *testing.T) {
	svc := testServices(t)
	reg, err := Build(svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Accounts.Add("root", accounts.Admin, "Root-Password-01"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Accounts.Add("tester", accounts.Viewer, "Tester-Password-01"); err != nil {
		t.Fatal(err)
	}
	dd := filepath.Dir(svc.Confdb.Path())
	cases := []struct {
		as    accounts.Role
		batch string
	}{
		{accounts.Admin, "account.add"},
		{accounts.Admin, "account.add ops superuser"},
		{accounts.Admin, "account.add root admin"},
		{accounts.Admin, "account.add ops viewer\nOps-Password-001\nOps-Password-002"},
		{accounts.Admin, "account.add ops viewer\nshort\nshort"},
		{accounts.Admin, "account.remove ghost"},
		{accounts.Admin, "account.remove tester"},
		{accounts.Admin, "account.remove root"},
		{accounts.Admin, "account.removeKey root SHA256:nope"},
		{accounts.Admin, "account.addKey root 'not a key'"},
		{accounts.Admin, "dom.resetPassword example.com root"},
		{accounts.Admin, "dom.resetPassword localhost ghost"},
		{accounts.Viewer, "passwd\nWrong-Password-01\nNew-Password-0001\nNew-Password-0001"},
		{accounts.Viewer, "account.add ops viewer"},
		{accounts.Viewer, "account.list --yaml"},
		{accounts.Viewer, "account.list --json=yes"},
		{accounts.Viewer, "account.list --json --json"},
		{accounts.Viewer, "account.list extra"},
		{accounts.Viewer, "account.list 'unterminated"},
		{accounts.Viewer, "tcpscan localhost 0"},
		{accounts.Viewer, "tcpscan localhost 22 0"},
		{accounts.Viewer, "logger.tail many"},
		{accounts.Viewer, "help nosuch"},
		{accounts.Viewer, "acount.list"},
		{accounts.Admin, "confdb.backup " + svc.Confdb.Path()},
		{accounts.Admin, "confdb.backup relative.db"},
		{accounts.Admin, "account.add Bad/Name viewer"}, // refused before any password is asked
		{accounts.Viewer, "passwd\nWrong-Password-01"},  // refused before the new password is asked
		{accounts.Admin, "account.unlock 192.0.2.7"},
		{accounts.Admin, "account.unlock not-an-address"},
		{accounts.Viewer, "account.list | grep root"},
		{accounts.Admin, "keystore.register ferry-web PKCS12 " + dd + "/ca/certs/web.pfx\nnot-the-password"},
		{accounts.Admin, "keystore.register x PKCS12 " + dd + "/ca/certs/absent.pfx"},
		{accounts.Admin, "keystore.register x JKS " + dd + "/ca/certs/web.pfx"},
		{accounts.Admin, "keystore.register x PKCS7 " + dd + "/ca/certs/web.pfx"},
		{accounts.Admin, "keystore.register 'bad alias' PKCS12 " + dd + "/ca/certs/web.pfx"},
		{accounts.Admin, "keystore.register x PKCS12 web.pfx"},
		{accounts.Admin, "keystore.unregister ghost"},
		{accounts.Viewer, "keystore.show ghost"},
		{accounts.Admin, "certs.issue relative.pfx host server"},
		{accounts.Admin, "certs.issue " + dd + "/ca/certs/web.pfx host server"},
		{accounts.Admin, "certs.issue " + dd + "/new.pfx host superuser"},
		{accounts.Admin, "certs.issue " + dd + "/new.pfx host server --san 'not a name'"},
		{accounts.Admin, "certs.issue " + dd + "/new.pfx host server --days 0"},
		{accounts.Admin, "certs.issue " + dd + "/new.pfx host server\nshort"},
		{accounts.Admin, "certs.exportCa " + dd + "/ca.jks\nshort"},
		{accounts.Admin, "certs.exportCa " + dd + "/ca.pem --format der"},
		{accounts.Admin, "httpd.openSsl 0 webconsole ferry-web"},
		{accounts.Admin, "httpd.openSsl 8443 nope ferry-web"},
		{accounts.Admin, "httpd.openSsl 8443 webconsole ghost"},
		{accounts.Admin, "httpd.openSsl 8443 webconsole ferry-ca"},
		{accounts.Admin, "httpd.openSsl 8443 webconsole ferry-web ferry-web"},
		{accounts.Admin, "httpd.openSsl 8443 webconsole ferry-web --bind localhost"},
		{accounts.Admin, "httpd.close 8443"},
		{accounts.Viewer, "httpd.openSsl 8443 webconsole ferry-web"},
		{accounts.Admin, "syslog.open udp1 0"},
		{accounts.Admin, "syslog.open udp1 5514 sctp"},
		{accounts.Admin, "syslog.open 'bad name' 5514"},
		{accounts.Admin, "syslog.open udp1 5514 udp --readers 0"},
		{accounts.Admin, "syslog.open udp1 5514 udp --rcvbuf lots"},
		{accounts.Admin, "syslog.open udp1 5514 udp --charset EBCDIC"},
		{accounts.Admin, "syslog.close ghost"},
		{accounts.Admin, "snmptrap.open traps 0"},
		{accounts.Admin, "snmptrap.open traps 162 udp"},
		{accounts.Admin, "snmptrap.close ghost"},
		{accounts.Viewer, "snmptrap.open traps 5162 --community secret"},
		{accounts.Viewer, "syslog.open udp1 5514"},
		{accounts.Admin, "forwarder.addOutput a kafka broker:9092"},
		{accounts.Admin, "forwarder.addOutput a file relative/dir"},
		{accounts.Admin, "forwarder.addOutput a discard /tmp"},
		{accounts.Admin, "forwarder.removeOutput ghost"},
		{accounts.Admin, "forwarder.addOutput a file /tmp/x --sync sometimes"},
		{accounts.Admin, "forwarder.addOutput a file /tmp/x --when-full panic"},
		{accounts.Admin, "forwarder.addOutput a discard --buffer 1GiB"},
		{accounts.Admin, "forwarder.addOutput a file /tmp/x --max-age soon"},
		{accounts.Admin, "forwarder.pause ghost"},
		{accounts.Admin, "spool.verify ghost"},
		{accounts.Admin, "forwarder.addBase b1 127.0.0.1 70000 ferry-sentry ferry-ca 1048576"},
		{accounts.Admin, "forwarder.addBase b1 127.0.0.1 7140 ferry-sentry ferry-ca lots"},
		{accounts.Admin, "forwarder.addBasePair p ghost ghost"},
		{accounts.Admin, "forwarder.removeBase ghost"},
		{accounts.Admin, "forwarder.setGuid 'has space'"},
		{accounts.Admin, "forwarder.listen 0 ferry-base ferry-ca"},
		{accounts.Admin, "forwarder.unlisten 7141"},
		{accounts.Admin, "sentry.removeBase ghost"},
		{accounts.Viewer, "forwarder.addBase b1 127.0.0.1 7140 ferry-sentry ferry-ca 1048576"},
		{accounts.Admin, "spool.peek ghost 0"},
		{accounts.Viewer, "spool.repair ghost"},
		{accounts.Admin, "route.add udp1 ghost"},
		{accounts.Admin, "route.remove udp1 ghost"},
		{accounts.Admin, "filter.add f1 * drop 'severity =='"},
		{accounts.Admin, "filter.add f1 * drop 'nosuchfield == 1'"},
		{accounts.Admin, "filter.add f1 * drop 'message matches \"(\"'"},
		{accounts.Admin, "filter.add f1 * maybe 'pri == 1'"},
		{accounts.Admin, "filter.add 'bad name' * drop 'pri == 1'"},
		{accounts.Admin, "filter.add f1 * drop severity == 'debug'"},
		{accounts.Admin, "filter.remove ghost"},
		{accounts.Viewer, "filter.add f1 * drop 'pri == 1'"},
	}
	var got strings.Builder
	for _, tc := range cases {
		user := accounts.Identity{Name: "tester", Role: tc.as}
		err := reg.RunBatch(context.Background(), discard(), user, strings.NewReader(tc.batch+"\n"), &bytes.Buffer{})
		first, _, _ := strings.Cut(tc.batch, "\n")
		// The data dir is a temporary one: keep the golden file stable.
		msg := strings.ReplaceAll(shell.Message(err), filepath.Dir(svc.Confdb.Path()), "DATADIR")
		first = strings.ReplaceAll(first, filepath.Dir(svc.Confdb.Path()), "DATADIR")
		fmt.Fprintf(&got, "%s (%s)\n  exit %d: %s\n", first, tc.as, shell.ExitStatus(err), msg)
	}
	checkGolden(t, "errors", got.String())
}
