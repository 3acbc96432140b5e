package store_test

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ferry-appliance/ferry/store"
)

func TestTableWholeRecords(t *testing.T) {
	s, _ := openStore(t)
	tab := s.Bindings()
	if _, ok, err := tab.Get("8443"); ok || err != nil {
		t.Fatalf("Get on empty table = %v, %v; want absent", ok, err)
	}
	want := store.Binding{Port: 8443, Context: "webconsole", Key: "ferry-web", Opened: time.Unix(1700000000, 0).UTC()}
	if err := tab.Put(store.BindingKey(8443), want); err != nil {
		t.Fatal(err)
	}
	if err := tab.Put(store.BindingKey(80), store.Binding{Port: 80, Context: "api"}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := tab.Get("8443")
	if err != nil || !ok || got != want {
		t.Fatalf("Get = %+v, %v, %v; want %+v", got, ok, err, want)
	}
	list, bad, err := tab.List()
	if err != nil || len(bad) != 0 || len(list) != 2 || list[0].Port != 80 || list[1].Port != 8443 {
		t.Fatalf("List = %+v, %v, %v; want ports 80, 8443 in key order", list, bad, err)
	}
	if err := tab.Delete("80"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Delete("80"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if list, _, _ := tab.List(); len(list) != 1 {
		t.Fatalf("after Delete: %+v", list)
	}
}

// A record that no longer decodes is reported by key and the others still list.
func TestTableListReportsDamagedRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keystores().Put("good", store.Keystore{Alias: "good", Type: "PEM"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("keystores")).Put([]byte("bad"), []byte("{not json")) })
	db.Close()
	s, err = store.Open(path, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, bad, err := s.Keystores().List()
	if err != nil || len(list) != 1 || list[0].Alias != "good" || bad["bad"] == nil {
		t.Fatalf("List = %+v, bad %v, %v; want good listed and bad reported", list, bad, err)
	}
	if !strings.Contains(bad["bad"].Error(), `keystores "bad"`) {
		t.Errorf("damaged record error %q does not name it", bad["bad"])
	}
}

// A version-1 confdb (before keystores, bindings and inputs) gains their buckets.
func TestMigrateV1AddsKeystoresAndBindings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confdb")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"meta", "accounts", "hostkeys", "history"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("1"))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, lockTimeout)
	if err != nil {
		t.Fatalf("Open v1 confdb: %v", err)
	}
	if err := s.Keystores().Put("a", store.Keystore{Alias: "a"}); err != nil {
		t.Fatalf("keystores after migration: %v", err)
	}
	if err := s.Bindings().Put("1", store.Binding{Port: 1}); err != nil {
		t.Fatalf("bindings after migration: %v", err)
	}
	s2 := s
	if err := s2.Inputs().Put("udp1", store.Input{Name: "udp1", Kind: "syslog", Proto: "udp", Port: 514}); err != nil {
		t.Fatalf("inputs after migration: %v", err)
	}
	s2.Close()
	if got := schemaVersionOf(t, path); got != strconv.Itoa(store.SchemaVersion()) {
		t.Errorf("schema version after migration = %s, want %d", got, store.SchemaVersion())
	}
}

func TestExportLeavesOutKeystorePasswordsAndCommunities(t *testing.T) {
	s, _ := openStore(t)
	if err := s.Keystores().Put("ferry-web", store.Keystore{Alias: "ferry-web", Type: "PKCS12", Path: "/x/web.pfx", Password: "v1:SEALEDPASSWORD"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Inputs().Put("traps", store.Input{Name: "traps", Kind: "snmptrap", Proto: "udp", Port: 162, Community: "SECRETCOMMUNITY"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "SEALEDPASSWORD") || strings.Contains(out, `"password"`) {
		t.Errorf("export shows the keystore password:\n%s", out)
	}
	if strings.Contains(out, "SECRETCOMMUNITY") || strings.Contains(out, `"community"`) {
		t.Errorf("export shows the SNMP community:\n%s", out)
	}
	if !strings.Contains(out, "/x/web.pfx") || !strings.Contains(out, `"snmptrap"`) {
		t.Errorf("export lacks the keystore record:\n%s", out)
	}
}

func TestFlag(t *testing.T) {
	s, _ := openStore(t)
	if at, err := s.Flag("local_ca_at"); err != nil || !at.IsZero() {
		t.Fatalf("Flag on fresh store = %v, %v", at, err)
	}
	now := time.Unix(1800000000, 0).UTC()
	if err := s.SetFlag("local_ca_at", now); err != nil {
		t.Fatal(err)
	}
	if at, err := s.Flag("local_ca_at"); err != nil || !at.Equal(now) {
		t.Fatalf("Flag = %v, %v; want %v", at, err, now)
	}
}

func TestSettings(t *testing.T) {
	s, _ := openStore(t)
	if v, err := s.Setting(store.SettingForwarderGUID); err != nil || v != "" {
		t.Fatalf("unset: %q %v", v, err)
	}
	if err := s.SetSetting(store.SettingForwarderGUID, "f1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Setting(store.SettingForwarderGUID); v != "f1" {
		t.Fatalf("got %q", v)
	}
	if err := s.SetSetting("nope", "x"); err == nil {
		t.Fatal("an unknown setting was stored")
	}
}
