package tamper_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/accord-db/accord/couch/keys"
	"github.com/accord-db/accord/couch/tamper"
)

// ExampleSigner signs a document, verifies it as CouchDB may return it
// (keys reordered, numbers re-spelled), and detects a change.
func ExampleSigner() {
	ring, _ := keys.New([]string{"k1"}, [][]byte{bytes.Repeat([]byte{42}, keys.Size)}) // use keys.Load
	signer, _ := tamper.New(tamper.Config{Keys: ring})

	signed, _ := signer.Sign("apple", []byte(`{"_id":"apple","type":"fruit_v1.0","color":"red","weight":1.50}`))
	fmt.Println(string(signed))

	// The same document as a server may hand it back.
	sig := signed[bytes.Index(signed, []byte(`"accord_signature"`)):bytes.Index(signed, []byte(`,"color"`))]
	back := []byte(`{"_rev":"1-abc","weight":1.5,"color":"red","type":"fruit_v1.0","_id":"apple",` + string(sig) + `}`)
	fmt.Println(signer.Verify("apple", back))

	forged := bytes.Replace(back, []byte(`"red"`), []byte(`"gold"`), 1)
	err := signer.Verify("apple", forged)
	fmt.Println(err, errors.Is(err, tamper.ErrTampered))
	// Output:
	// {"_id":"apple","accord_signature":{"kid":"k1","hmac":"pPWaFGjK6kCWhZDdOuwFqmI0w1L86aDbxgxj961UD9g"},"color":"red","type":"fruit_v1.0","weight":1.50}
	// <nil>
	// document "apple" failed verification: signature does not match the content true
}
