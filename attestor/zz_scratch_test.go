package attestor
import ("context";"os";"testing";"time";"strings")
func TestZZBreakdown(t *testing.T) {
	dir := os.Getenv("ZZTREE"); if dir == "" { t.Skip() }
	h, _ := NewHasher(WithBaseDir(dir))
	for i := 0; i < 4; i++ {
		t0 := time.Now()
		w, _ := h.newWalk()
		if err := w.input(context.Background(), "."); err != nil { t.Fatal(err) }
		t1 := time.Now()
		files := w.files
		h.strip(files)
		sortFiles(files)
		t2 := time.Now()
		if _, err := h.hashAll(context.Background(), files); err != nil { t.Fatal(err) }
		t3 := time.Now()
		t.Logf("walk %v sort %v hash %v", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2))
	}
}
func sortFiles(files []fileEntry) { 
	for i := 1; i < len(files); i++ { _ = strings.Compare(files[i-1].out, files[i].out) }
}
