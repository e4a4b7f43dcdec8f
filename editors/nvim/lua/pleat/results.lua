-- pleat.results: the structured test reports (the answer of pleat.runTests/runAffected/runAll
-- and the `pleat/testResults` notification) merged per workspace (each test's latest result), a
-- one-line summary, and quickfix items for what failed.

local M = {}

--- root URI (or "") → the latest result of every test run in it, as one report
M.last = {}

--- A report may be one run or `{runs = {…}}` (pleat.runAll over several workspace folders).
local function runs_of(report)
  if type(report) ~= 'table' then
    return {}
  end
  if type(report.runs) == 'table' then
    return report.runs
  end
  return { report }
end

local function is_table(value)
  return type(value) == 'table' -- vim.NIL (JSON null) is userdata
end

--- How many reports came, by where they came from: "notification" (pleat/testResults) or
--- "answer" (a command's answer).
M.received = { notification = 0, answer = 0 }

--- Whether pytest node id `id` is one of `ids` of test file `path` (or a parameter or method of one).
local function selected(id, path, ids)
  for _, want in ipairs(ids) do
    local prefix = path .. '::' .. want
    local rest = id:sub(#prefix + 1)
    if id:sub(1, #prefix) == prefix and (rest == '' or rest:sub(1, 1) == '[' or rest:sub(1, 2) == '::') then
      return true
    end
  end
  return false
end

--- The newer run over the older: a file that ran replaces the older results of its tests (all
--- of them, or only those it ran when `only` names some); files it did not run keep theirs.
local function merge(older, newer)
  local ran = {}
  for _, file in ipairs(is_table(newer.files) and newer.files or {}) do
    ran[file.path] = is_table(file.only) and file.only or true
  end
  local tests, files = {}, {}
  for _, test in ipairs(is_table(older.tests) and older.tests or {}) do
    local only = ran[test.path]
    if only == nil or (only ~= true and not selected(test.id, test.path, only)) then
      table.insert(tests, test)
    end
  end
  for _, file in ipairs(is_table(older.files) and older.files or {}) do
    if ran[file.path] == nil then
      table.insert(files, file)
    end
  end
  vim.list_extend(tests, newer.tests)
  vim.list_extend(files, is_table(newer.files) and newer.files or {})
  return vim.tbl_extend('force', newer, { tests = tests, files = files })
end

--- Remembers a report: merged into what is known of its workspace.
function M.store(report, source)
  M.received[source] = (M.received[source] or 0) + 1
  for _, run in ipairs(runs_of(report)) do
    if is_table(run.tests) then
      local root = run.root or ''
      local older = M.last[root]
      if older and (tonumber(older.run) or 0) <= (tonumber(run.run) or 0) then
        M.last[root] = merge(older, run)
      elseif not older then
        M.last[root] = run
      end
    end
  end
end

--- Every report remembered, newest run first.
function M.all()
  local out = vim.tbl_values(M.last)
  table.sort(out, function(a, b)
    return (tonumber(a.run) or 0) > (tonumber(b.run) or 0)
  end)
  return out
end

--- Counts of a report: { passed = n, failed = n, error = n, skipped = n, cached = n, files = n }
function M.counts(report)
  local c = { passed = 0, failed = 0, error = 0, skipped = 0, cached = 0, files = 0, errors = 0 }
  for _, run in ipairs(runs_of(report)) do
    for _, test in ipairs(is_table(run.tests) and run.tests or {}) do
      c[test.state] = (c[test.state] or 0) + 1
      if test.cached == true then
        c.cached = c.cached + 1
      end
    end
    for _, file in ipairs(is_table(run.files) and run.files or {}) do
      c.files = c.files + 1
      -- A file that failed without any test result: collection error, timeout, crash.
      if file.outcome ~= 'passed' and file.outcome ~= 'no_tests' and not M.has_tests(run, file.path) then
        c.errors = c.errors + 1
      end
    end
    c.errors = c.errors + #(is_table(run.errors) and run.errors or {})
  end
  return c
end

function M.has_tests(run, path)
  for _, test in ipairs(is_table(run.tests) and run.tests or {}) do
    if test.path == path then
      return true
    end
  end
  return false
end

--- "Pleat: ✓ 3 passed, ✕ 1 failed in 2 files (1 cached)"
function M.summary(report)
  local c = M.counts(report)
  if c.files == 0 and c.errors == 0 then
    return 'Pleat: no tests to run'
  end
  local parts = { string.format('✓ %d passed', c.passed) }
  if c.failed + c.error > 0 then
    table.insert(parts, string.format('✕ %d failed', c.failed + c.error))
  end
  if c.skipped > 0 then
    table.insert(parts, string.format('%d skipped', c.skipped))
  end
  if c.errors > 0 then
    table.insert(parts, string.format('%d error%s', c.errors, c.errors == 1 and '' or 's'))
  end
  local text = table.concat(parts, ', ')
    .. string.format(' in %d file%s', c.files, c.files == 1 and '' or 's')
  local total = c.passed + c.failed + c.error + c.skipped
  if c.cached > 0 and c.cached == total then
    text = text .. ' (cached)'
  elseif c.cached > 0 then
    text = text .. string.format(' (%d cached)', c.cached)
  end
  return 'Pleat: ' .. text
end

--- Whether anything in the report failed.
function M.failed(report)
  local c = M.counts(report)
  return c.failed + c.error + c.errors > 0
end

local function fname(location_or_test, root)
  local uri = location_or_test.file
  if type(uri) == 'string' and uri:match('^file:') then
    return vim.uri_to_fname(uri)
  end
  local path = location_or_test.path or ''
  if root and type(root) == 'string' and root:match('^file:') and path:sub(1, 1) ~= '/' then
    return vim.uri_to_fname(root) .. '/' .. path
  end
  return path
end

local function first_line(text)
  if type(text) ~= 'string' or text == '' then
    return ''
  end
  for line in text:gmatch('[^\n]+') do
    if line:match('%S') then
      return (line:gsub('^%s+', ''))
    end
  end
  return ''
end

--- Quickfix items (see setqflist()) for the failed tests of a report: one at the line where
--- each failed, one at the first-party line that raised (when it is elsewhere), one at line 1
--- of each test file that failed without test results (collection error, timeout).
function M.quickfix_items(report)
  local items = {}
  for _, run in ipairs(runs_of(report)) do
    for _, test in ipairs(is_table(run.tests) and run.tests or {}) do
      if test.state == 'failed' or test.state == 'error' then
        local message = first_line(test.message)
        local loc = is_table(test.location) and test.location or nil
        local lnum
        if loc then
          lnum = tonumber(loc.line)
        elseif is_table(test.range) then
          lnum = test.range.start.line + 1
        end
        table.insert(items, {
          filename = fname(loc or test, run.root),
          lnum = lnum or 1,
          col = (not loc and is_table(test.range)) and test.range.start.character + 1 or 1,
          type = 'E',
          text = string.format('%s %s%s', test.id, test.state, message ~= '' and (': ' .. message) or ''),
        })
        local src = is_table(test.sourceLocation) and test.sourceLocation or nil
        if src and not (loc and src.path == loc.path and src.line == loc.line) then
          table.insert(items, {
            filename = fname(src, run.root),
            lnum = tonumber(src.line) or 1,
            col = 1,
            type = 'I',
            text = string.format('%s raised here%s', test.id, message ~= '' and (': ' .. message) or ''),
          })
        end
      end
    end
    for _, file in ipairs(is_table(run.files) and run.files or {}) do
      if file.outcome ~= 'passed' and file.outcome ~= 'no_tests' and not M.has_tests(run, file.path) then
        local output = first_line(type(file.output) == 'string' and file.output:sub(-400) or '')
        table.insert(items, {
          filename = fname(file, run.root),
          lnum = 1,
          col = 1,
          type = 'E',
          text = string.format('%s: %s%s', file.path, file.outcome, output ~= '' and (': ' .. output) or ''),
        })
      end
    end
    for _, err in ipairs(is_table(run.errors) and run.errors or {}) do
      table.insert(items, { text = 'pleat: ' .. tostring(err), type = 'E' })
    end
  end
  return items
end

--- Fills the quickfix list with a report's failures (replacing it); opens the window when
--- `open` is true and there is something to show. Returns the number of items.
function M.to_quickfix(report, open)
  local items = M.quickfix_items(report)
  vim.fn.setqflist({}, ' ', { title = M.summary(report), items = items })
  if open and #items > 0 then
    vim.cmd('copen')
  end
  return #items
end

return M
