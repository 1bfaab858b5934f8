// yaml-to-json reads YAML the way kubectl reads a manifest, so the CLI's reader can be compared with it.
//
//	yaml-to-json            one document each: k8s.io/apimachinery's yaml.ToJSON (sigs.k8s.io/yaml over
//	                        go-yaml v2). stdin: a JSON list of YAML texts; stdout: a JSON list with, for
//	                        each, {"json": "..."} or {"error": "..."}.
//	yaml-to-json -stream    whole files as `kubectl apply -f` reads them (cli-runtime's StreamVisitor:
//	                        apimachinery's YAMLOrJSONDecoder, documents split on `---` lines, empty and
//	                        null documents skipped, reading stops at the first error). stdin: a JSON list
//	                        of file contents; stdout: a JSON list with, for each, {"docs": ["<json>", ...]}
//	                        and "error" when reading stopped on one.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	var inputs []string
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-to-json: stdin must be a JSON list of strings:", err)
		os.Exit(2)
	}
	stream := len(os.Args) > 1 && os.Args[1] == "-stream"
	out := make([]map[string]any, len(inputs))
	for i, in := range inputs {
		if stream {
			out[i] = readStream(in)
			continue
		}
		j, err := yaml.ToJSON([]byte(in))
		if err != nil {
			out[i] = map[string]any{"error": err.Error()}
		} else {
			out[i] = map[string]any{"json": string(j)}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-to-json:", err)
		os.Exit(1)
	}
}

// readStream is cli-runtime's StreamVisitor.Visit (pkg/resource/visitor.go) without the objects' mapping.
func readStream(in string) map[string]any {
	d := yaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(in)), 4096)
	docs := []string{}
	for {
		ext := runtime.RawExtension{}
		if err := d.Decode(&ext); err != nil {
			if err == io.EOF {
				return map[string]any{"docs": docs}
			}
			return map[string]any{"docs": docs, "error": err.Error()}
		}
		ext.Raw = bytes.TrimSpace(ext.Raw)
		if len(ext.Raw) == 0 || bytes.Equal(ext.Raw, []byte("null")) {
			continue
		}
		docs = append(docs, string(ext.Raw))
	}
}
