;;; pleat-eglot.el --- Pleat's language server through Eglot  -*- lexical-binding: t; -*-

;; Pleat (`pleat lsp') for Python buffers in Eglot: Emacs 29+ (Eglot built in), or Emacs 26.3+
;; with Eglot 1.9+ from GNU ELPA or Debian's elpa-eglot.
;;
;;   (add-to-list 'load-path "~/src/pleat/editors/emacs")
;;   (require 'pleat-eglot)
;;   (setq pleat-program "~/src/pleat/target/release/pleat")   ; unless `pleat' is on PATH
;;   (pleat-eglot-setup)                       ; Pleat for python-mode and python-ts-mode
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; Eglot runs one server per buffer: with this set-up Pleat takes the place of pylsp/pyright
;; for Python buffers.  Flymake shows Pleat's diagnostics (unresolved imports as you type;
;; ruff, the affected tests and the type checker on save); xref (M-.) and eldoc work on
;; imports; `eglot-code-actions' offers ruff's fixes; `eglot-format-buffer' formats.  Eglot
;; has no code lenses, so the lenses' commands are interactive commands here:
;;
;;   M-x pleat-run-affected   tests affected by this file (C-u: rerun cached results too)
;;   M-x pleat-run-file       the tests in this file
;;   M-x pleat-run-all        every test
;;   M-x pleat-dependents     files importing this one (C-u: transitively)
;;   M-x pleat-why            the import chain between this file and another
;;   M-x pleat-results        the last run's failures
;;
;; Results, file lists and chains go to the *pleat* buffer in `compilation-mode', so
;; `next-error' (M-g n) walks the failures.  `pleat-status' gives the server's state
;; (pleat/status) for the mode line.

;;; Code:

(require 'eglot)
(require 'jsonrpc)
(require 'compile)
(require 'project)
(require 'subr-x)
(require 'cl-lib)

(defgroup pleat nil
  "Pleat's language server through Eglot."
  :group 'tools
  :prefix "pleat-")

(defcustom pleat-program "pleat"
  "The pleat binary: a name on PATH or a path."
  :type 'string)

(defcustom pleat-cache-dir nil
  "Where pleat keeps its caches (its --cache-dir); nil for pleat's own choice."
  :type '(choice (const nil) directory))

(defcustom pleat-settings '(:onSave "lint+tests" :typecheck "off")
  "Pleat's settings, sent as initializationOptions (a plist: a JSON object).
Keys: :onSave (\"off\", \"lint\", \"tests\", \"lint+tests\"), :lint (:tools [\"ruff\"]),
:typecheck (\"off\", \"mypy\", \"pyright\"), :test (:timeout 60)."
  :type 'plist)

(defcustom pleat-major-modes '(python-mode python-ts-mode)
  "The major modes Pleat serves."
  :type '(repeat symbol))

(defclass pleat-eglot-server (eglot-lsp-server) ()
  :documentation "Eglot's connection to `pleat lsp'.")

(cl-defmethod eglot-initialization-options ((_server pleat-eglot-server))
  "Pleat's settings, `pleat-settings'."
  pleat-settings)

(defun pleat-eglot-contact (&optional _interactive)
  "The command line of the server, as `eglot-server-programs' takes it."
  `(pleat-eglot-server ,(if (string-match-p "/" pleat-program) (expand-file-name pleat-program) pleat-program)
                       ,@(when pleat-cache-dir (list "--cache-dir" (expand-file-name pleat-cache-dir)))
                       "lsp"))

(defun pleat-eglot-project (dir)
  "The Pleat root above DIR as a transient project.
The root holds pleat.toml, or a pyproject.toml with [tool.pleat].  Nil
elsewhere, so that `project-current' goes on to the version-control root."
  (let ((root (locate-dominating-file
               dir
               (lambda (d)
                 (or (file-exists-p (expand-file-name "pleat.toml" d))
                     (let ((pyproject (expand-file-name "pyproject.toml" d)))
                       (and (file-readable-p pyproject)
                            (with-temp-buffer
                              (insert-file-contents pyproject)
                              (re-search-forward "^\\[tool\\.pleat[].]" nil t)))))))))
    (and root (cons 'transient (expand-file-name root)))))

;;;###autoload
(defun pleat-eglot-setup ()
  "Serve `pleat-major-modes' with Pleat in Eglot; roots at pleat.toml are projects."
  (add-to-list 'eglot-server-programs (cons pleat-major-modes #'pleat-eglot-contact))
  (add-hook 'project-find-functions #'pleat-eglot-project))

;;; Notifications

(defvar pleat-last-report nil "The last test report (pleat/testResults or a run's answer).")
(defvar pleat--status nil "The last pleat/status: a plist with :state, :message.")

(defun pleat-status ()
  "The server's state for a mode line: \"Pleat: ✓ 3 ✕ 1\", or \"\"."
  (if pleat--status (format "Pleat: %s" (plist-get pleat--status :message)) ""))

(cl-defmethod eglot-handle-notification
  ((_server pleat-eglot-server) (_method (eql pleat/testResults)) &rest report)
  "Remember a test report; refresh the *pleat* buffer if it shows results."
  (setq pleat-last-report report)
  (when (and (get-buffer "*pleat*")
             (eq (buffer-local-value 'pleat--shows (get-buffer "*pleat*")) 'results))
    (pleat--show-report report)))

(cl-defmethod eglot-handle-notification
  ((_server pleat-eglot-server) (_method (eql pleat/status)) &rest status)
  "Remember the server's state for `pleat-status'."
  (setq pleat--status status)
  (force-mode-line-update t))

;;; Commands

(defun pleat--server ()
  (let ((server (eglot-current-server)))
    (unless (and server (cl-typep server 'pleat-eglot-server))
      (user-error "Pleat: no Pleat server for this buffer (M-x eglot, see `pleat-eglot-setup')"))
    server))

(defun pleat--uri ()
  (unless buffer-file-name (user-error "Pleat: this buffer has no file"))
  (concat "file://" (expand-file-name buffer-file-name)))

(defun pleat--execute (command argument callback &optional server)
  "Send COMMAND with ARGUMENT (a plist) to SERVER (default: this buffer's).
CALLBACK gets the answer; runs answer when they end."
  (jsonrpc-async-request (or server (pleat--server)) :workspace/executeCommand
                         (list :command command :arguments (vector argument))
                         :success-fn callback
                         :error-fn (lambda (err)
                                     (message "Pleat: %s failed: %s" command (plist-get err :message)))
                         :timeout nil))

(defvar-local pleat--shows nil "What the *pleat* buffer shows: results, files or why.")

(defun pleat--buffer (what root lines)
  "Show LINES (\"file:line: text\") in the *pleat* buffer, relative to ROOT."
  (with-current-buffer (get-buffer-create "*pleat*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (string-join lines "\n") "\n"))
    (unless (derived-mode-p 'compilation-mode) (compilation-mode))
    (when root (setq default-directory (file-name-as-directory root)))
    (setq pleat--shows what)
    (goto-char (point-min))
    (display-buffer (current-buffer))
    (current-buffer)))

(defun pleat--runs (report)
  (if (plist-get report :runs) (append (plist-get report :runs) nil) (list report)))

(defun pleat--root (report)
  (let ((root (plist-get (car (pleat--runs report)) :root)))
    (and (stringp root) (string-prefix-p "file://" root) (url-unhex-string (substring root 7)))))

(defun pleat--first-line (text)
  (if (stringp text) (or (seq-find (lambda (l) (string-match-p "[^ \t]" l)) (split-string text "\n")) "") ""))

(defun pleat-summary (report)
  "\"Pleat: ✓ 1 passed, ✕ 1 failed in 1 file\" for REPORT."
  (let ((passed 0) (failed 0) (skipped 0) (files 0))
    (dolist (run (pleat--runs report))
      (setq files (+ files (length (plist-get run :files))))
      (seq-doseq (test (plist-get run :tests))
        (pcase (plist-get test :state)
          ("passed" (cl-incf passed))
          ((or "failed" "error") (cl-incf failed))
          ("skipped" (cl-incf skipped)))))
    (if (zerop files)
        "Pleat: no tests to run"
      (format "Pleat: ✓ %d passed%s%s in %d file%s" passed
              (if (> failed 0) (format ", ✕ %d failed" failed) "")
              (if (> skipped 0) (format ", %d skipped" skipped) "")
              files (if (= files 1) "" "s")))))

(defun pleat-failure-lines (report)
  "\"path:line: id failed: message\" for each failure in REPORT.
The lines are for `compilation-mode'."
  (let (lines)
    (dolist (run (pleat--runs report))
      (seq-doseq (test (plist-get run :tests))
        (when (member (plist-get test :state) '("failed" "error"))
          (let* ((loc (plist-get test :location))
                 (src (plist-get test :sourceLocation))
                 (message (pleat--first-line (plist-get test :message)))
                 (line (if (consp loc) (plist-get loc :line)
                         (1+ (or (plist-get (plist-get (plist-get test :range) :start) :line) 0)))))
            (push (format "%s:%d: %s %s: %s" (if (consp loc) (plist-get loc :path) (plist-get test :path))
                          line (plist-get test :id) (plist-get test :state) message)
                  lines)
            (when (and (consp src) (not (equal src loc)))
              (push (format "%s:%d: %s raised here: %s" (plist-get src :path) (plist-get src :line)
                            (plist-get test :id) message)
                    lines)))))
      (seq-doseq (file (plist-get run :files))
        (unless (or (member (plist-get file :outcome) '("passed" "no_tests"))
                    (seq-find (lambda (test) (equal (plist-get test :path) (plist-get file :path)))
                              (plist-get run :tests)))
          (push (format "%s:1: %s" (plist-get file :path) (plist-get file :outcome)) lines)))
      (seq-doseq (err (plist-get run :errors))
        (push (format "pleat: %s" err) lines)))
    (nreverse lines)))

(defun pleat--show-report (report)
  (pleat--buffer 'results (pleat--root report) (cons (pleat-summary report) (pleat-failure-lines report))))

(defun pleat--run (command argument what)
  (message "Pleat: running %s…" what)
  (pleat--execute command argument
                  (lambda (report)
                    (setq pleat-last-report report)
                    (pleat--show-report report)
                    (message "%s" (pleat-summary report)))))

(defun pleat-run-affected (force)
  "Run the tests affected by this file; with FORCE (\\[universal-argument]), rerun cached ones."
  (interactive "P")
  (pleat--run "pleat.runAffected" (list :file (pleat--uri) :force (if force t :json-false))
              (format "the tests affected by %s" (file-name-nondirectory buffer-file-name))))

(defun pleat-run-file (force)
  "Run the tests in this file; with FORCE (\\[universal-argument]), rerun cached ones."
  (interactive "P")
  (pleat--run "pleat.runTests" (list :files (vector (pleat--uri)) :force (if force t :json-false))
              (format "the tests in %s" (file-name-nondirectory buffer-file-name))))

(defun pleat-run-all (force)
  "Run every test; with FORCE (\\[universal-argument]), rerun cached ones."
  (interactive "P")
  (pleat--run "pleat.runAll" (list :force (if force t :json-false)) "all tests"))

(defun pleat-results ()
  "Show the last run's failures in the *pleat* buffer."
  (interactive)
  (if pleat-last-report
      (pleat--show-report pleat-last-report)
    (message "Pleat: no test results yet")))

(defun pleat-dependents (transitive)
  "List the files importing this one; with TRANSITIVE (\\[universal-argument]), indirectly too."
  (interactive "P")
  (let ((root (project-root (project-current t))))
    (pleat--execute "pleat.showDependents" (list :file (pleat--uri) :transitive (if transitive t :json-false))
                    (lambda (result)
                      (let ((files (append (plist-get result :files) nil)))
                        (pleat--buffer 'files root
                                       (cons (format "Pleat: %d dependent%s of %s" (length files)
                                                     (if (= (length files) 1) "" "s") (plist-get result :file))
                                             (mapcar (lambda (f) (format "%s:1: imports %s" (plist-get f :path)
                                                                         (plist-get result :file)))
                                                     files))))))))

(defun pleat-why (target)
  "The import chain from this file to TARGET, or else from TARGET to this file."
  (interactive "fWhy (the other file): ")
  (let ((server (pleat--server))
        (here (expand-file-name buffer-file-name))
        (target (expand-file-name target))
        (root (project-root (project-current t))))
    (cl-labels ((show (result)
                  (pleat--buffer 'why root
                                 (cons (format "Pleat: why %s → %s" (plist-get result :from) (plist-get result :to))
                                       (mapcar (lambda (hop) (format "%s:%d: imports %s" (plist-get hop :file)
                                                                     (plist-get hop :line) (plist-get hop :imports)))
                                               (plist-get result :hops))))))
      (pleat--execute "pleat.why" (list :from here :to target)
                      (lambda (result)
                        (if (plist-get result :hops)
                            (show result)
                          (pleat--execute "pleat.why" (list :from target :to here)
                                          (lambda (back)
                                            (if (plist-get back :hops)
                                                (show back)
                                              (message "Pleat: no import chain between %s and %s, either way"
                                                       (plist-get result :from) (plist-get result :to))))
                                          server)))
                      server))))

(provide 'pleat-eglot)
;;; pleat-eglot.el ends here
