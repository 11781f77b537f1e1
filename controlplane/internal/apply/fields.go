package apply

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// diffFields returns the paths of the fields that differ between a and b (messages of one
// type), in field-number order: nested messages by their own fields ("tls.mode"), lists,
// maps and well-known types as a whole ("hosts", "timeouts.connect").
func diffFields(a, b proto.Message) []string {
	return appendDiff(nil, "", a.ProtoReflect(), b.ProtoReflect())
}

func appendDiff(out []string, prefix string, a, b protoreflect.Message) []string {
	fields := a.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		path := prefix + string(fd.Name())
		ha, hb := a.Has(fd), b.Has(fd)
		if !ha && !hb {
			continue
		}
		if isNested(fd) { // an unset side reads as the empty message
			out = appendDiff(out, path+".", a.Get(fd).Message(), b.Get(fd).Message())
			continue
		}
		if ha != hb || !a.Get(fd).Equal(b.Get(fd)) {
			out = append(out, path)
		}
	}
	return out
}

// isNested: a singular message field of this API, compared field by field.
func isNested(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() &&
		!strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.")
}
