package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

func gunzip(raw []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	wasm, err := io.ReadAll(io.LimitReader(zr, maxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	if len(wasm) > maxModuleBytes {
		return nil, fmt.Errorf("more than %d MiB uncompressed", maxModuleBytes>>20)
	}
	return wasm, nil
}
