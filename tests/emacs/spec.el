;;; spec.el --- editors/emacs/pleat-eglot.el in a real Emacs (batch) against the real pleat lsp  -*- lexical-binding: t; -*-

;; Run by tests/emacs/run.sh: emacs --batch -Q -L editors/emacs -l tests/emacs/spec.el, with
;; PLEAT_BIN, PLEAT_CACHE_DIR and PLEAT_FIXTURE (written fresh by tests/editor-fixture.sh).
;; Prints one line per check and "emacs: N passed, N failed"; exits 1 when a check failed.

(require 'pleat-eglot)
(require 'flymake)

(defvar spec-root (file-name-as-directory (getenv "PLEAT_FIXTURE")))
(defvar spec-passed 0)
(defvar spec-failed 0)
(defvar spec-start (float-time))
(defvar spec-messages nil "Echo-area messages, newest first.")

(defun spec-say (format-string &rest args)
  (princ (concat (apply #'format format-string args) "\n") #'external-debugging-output))

(advice-add 'message :around
            (lambda (orig &rest args)
              (when (car args)
                (let ((text (apply #'format-message args)))
                  (push text spec-messages)
                  (spec-say "         [message] %s" text)))
              (let ((inhibit-message t)) (apply orig args))))

(defun spec-check (name ok &optional detail)
  (if ok
      (progn (cl-incf spec-passed)
             (spec-say "  ok   %5.1fs %s" (- (float-time) spec-start) name))
    (cl-incf spec-failed)
    (spec-say "  FAIL %5.1fs %s%s" (- (float-time) spec-start) name
              (if detail (format "\n         %s" detail) "")))
  ok)

(defun spec-wait (seconds predicate)
  "Process events until PREDICATE holds or SECONDS pass; PREDICATE's value."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    value))

(defun spec-open (path)
  (find-file (expand-file-name path spec-root))
  ;; eglot-ensure connects on the next command; a batch Emacs runs none.
  (run-hooks 'post-command-hook)
  (current-buffer))

(defun spec-diagnostics-text (buffer)
  (with-current-buffer buffer
    (mapconcat (lambda (d) (format "%d: %s" (line-number-at-pos (flymake-diagnostic-beg d))
                                   (flymake-diagnostic-text d)))
               (flymake-diagnostics) "; ")))

(defun spec-diagnostic-at (buffer line regexp)
  (with-current-buffer buffer
    (seq-find (lambda (d) (and (= (line-number-at-pos (flymake-diagnostic-beg d)) line)
                               (string-match-p regexp (flymake-diagnostic-text d))))
              (flymake-diagnostics))))

(defun spec-pleat-buffer ()
  (if (get-buffer "*pleat*") (with-current-buffer "*pleat*" (buffer-string)) ""))

(defun spec-noted (regexp)
  (seq-find (lambda (m) (string-match-p regexp m)) spec-messages))

(defun spec-run ()
  (setq pleat-program (getenv "PLEAT_BIN")
        pleat-cache-dir (getenv "PLEAT_CACHE_DIR")
        pleat-settings '(:onSave "lint+tests" :test (:timeout 120)))
  (pleat-eglot-setup)
  (add-hook 'python-mode-hook #'eglot-ensure)
  (spec-say "emacs: Emacs %s, Eglot %s, fixture %s" emacs-version
            (or (ignore-errors (require 'lisp-mnt) (lm-version (locate-library "eglot.el"))) "?")
            spec-root)

  ;; 1. Eglot starts Pleat for a Python file, rooted at pleat.toml; an unresolved import is a
  ;; Flymake diagnostic.
  (let ((broken (spec-open "pkg/broken.py")))
    (unless (spec-check "Eglot connects to pleat lsp" (spec-wait 20 (lambda () (eglot-current-server))))
      (error "no server"))
    (spec-check "the project root is the fixture (pleat.toml)"
                (equal (file-name-as-directory (project-root (eglot--project (eglot-current-server)))) spec-root)
                (format "%S" (eglot--project (eglot-current-server))))
    (spec-check "the unresolved import is a Flymake diagnostic on its line"
                (spec-wait 30 (lambda () (spec-diagnostic-at broken 3 "pkg\\.nowhere")))
                (spec-diagnostics-text broken)))

  ;; 2. pleat-run-file runs the test file; the failure is in *pleat* at its line, and
  ;; next-error visits it.
  (let ((test (spec-open "tests/test_calc.py")))
    (setq pleat-last-report nil)
    (pleat-run-file '(4))
    (spec-check "pleat-run-file shows the failing test at its line in *pleat*"
                (spec-wait 300 (lambda () (string-match-p "^tests/test_calc.py:9: tests/test_calc.py::test_add_wrong failed"
                                                          (spec-pleat-buffer))))
                (spec-pleat-buffer))
    (spec-check "the run is summed up: 1 passed, 1 failed"
                (spec-noted "Pleat: ✓ 1 passed, ✕ 1 failed in 1 file") (format "%S" spec-messages))
    (spec-check "pleat/testResults arrives and is handled" (spec-wait 20 (lambda () pleat-last-report)))
    (with-current-buffer "*pleat*" (setq next-error-last-buffer (current-buffer)))
    (first-error)
    (spec-check "next-error visits the failing line"
                (and (equal buffer-file-name (expand-file-name "tests/test_calc.py" spec-root))
                     (= (line-number-at-pos) 9))
                (format "%s:%d" buffer-file-name (line-number-at-pos)))

    ;; 3. The import graph: dependents and why.
    (spec-open "pkg/calc.py")
    (pleat-dependents nil)
    (spec-check "pleat-dependents lists tests/test_calc.py"
                (spec-wait 20 (lambda () (string-match-p "^tests/test_calc.py:1: imports pkg/calc.py" (spec-pleat-buffer))))
                (spec-pleat-buffer))
    (pleat-why (expand-file-name "tests/test_calc.py" spec-root))
    (spec-check "pleat-why shows the chain with the import's line"
                (spec-wait 20 (lambda () (string-match-p "^tests/test_calc.py:1: imports pkg/calc.py"
                                                         (with-current-buffer "*pleat*"
                                                           (if (eq pleat--shows 'why) (buffer-string) "")))))
                (spec-pleat-buffer))

    ;; 4. A save that breaks test_add: the failure becomes a diagnostic on its line (5).
    (let ((reports pleat-last-report))
      (goto-char (point-min))
      (forward-line 1)
      (delete-region (point) (line-end-position))
      (insert "    return a + b + 1")
      (save-buffer)
      (spec-check "saving the module brings a pleat/testResults"
                  (spec-wait 300 (lambda () (not (eq pleat-last-report reports)))))
      ;; Eglot hands a buffer's diagnostics to Flymake when Flymake asks, i.e. when the
      ;; buffer is shown: show it, as a person would look at it.
      (switch-to-buffer test)
      (spec-check "the test now failing is a diagnostic on its line in the test file"
                  (spec-wait 30 (lambda () (flymake-start) (spec-diagnostic-at test 5 "assert")))
                  (spec-diagnostics-text test)))
    (spec-check "pleat-status reports the server's state"
                (string-prefix-p "Pleat: " (pleat-status)) (pleat-status))))

(condition-case err
    (spec-run)
  (error (spec-check "the spec ran to its end" nil (error-message-string err))))
(spec-say "emacs: %d passed, %d failed (%.1f s)" spec-passed spec-failed (- (float-time) spec-start))
(kill-emacs (if (zerop spec-failed) 0 1))
