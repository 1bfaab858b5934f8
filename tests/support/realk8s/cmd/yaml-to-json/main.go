// yaml-to-json reads YAML documents the way kubectl reads a manifest (k8s.io/apimachinery's yaml.ToJSON:
// sigs.k8s.io/yaml over go-yaml v2), so the CLI's reader can be compared with it. Input on stdin: a JSON
// list of YAML texts; output: a JSON list with, for each, {"json": "..."} or {"error": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/util/yaml"
)

func main() {
	var docs []string
	if err := json.NewDecoder(os.Stdin).Decode(&docs); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-to-json: stdin must be a JSON list of strings:", err)
		os.Exit(2)
	}
	out := make([]map[string]string, len(docs))
	for i, doc := range docs {
		j, err := yaml.ToJSON([]byte(doc))
		if err != nil {
			out[i] = map[string]string{"error": err.Error()}
		} else {
			out[i] = map[string]string{"json": string(j)}
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "yaml-to-json:", err)
		os.Exit(1)
	}
}
