-- The plugin's end-to-end test, run inside a real headless Neovim by tests/nvim/run.sh against
-- the real `pleat lsp` and a fixture workspace written fresh for the run (PLEAT_FIXTURE):
-- diagnostics, code lenses, commands, test results (answer and pleat/testResults), the
-- quickfix list, a save that breaks a test, :checkhealth. Prints one line per check and a
-- closing "N passed, N failed"; exits non-zero when a check failed.

local root = assert(os.getenv('PLEAT_FIXTURE'), 'PLEAT_FIXTURE is not set')
local label = os.getenv('PLEAT_LABEL') or 'nvim'
local compat = require('pleat.compat')
local pleat = require('pleat')
local results = require('pleat.results')

local uv = vim.uv or vim.loop
local started = uv.hrtime()
local passed, failed = 0, 0
local LONG = tonumber(os.getenv('PLEAT_RUN_TIMEOUT_MS') or '') or 300000 -- a cold run builds pytest's environment

local function say(line)
  io.stderr:write(line .. '\n')
end

local function elapsed()
  return string.format('%5.1fs', (uv.hrtime() - started) / 1e9)
end

local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    say(string.format('  ok   %s %s', elapsed(), name))
  else
    failed = failed + 1
    say(string.format('  FAIL %s %s%s', elapsed(), name, detail and ('\n         ' .. detail:gsub('\n', '\n         ')) or ''))
  end
  return ok
end

local function finish()
  say(string.format('%s: %d passed, %d failed (%.1f s)', label, passed, failed, (uv.hrtime() - started) / 1e9))
  vim.cmd(failed == 0 and 'qa!' or 'cq 1')
end

local function wait(ms, predicate)
  return vim.wait(ms, predicate, 50)
end

-- Messages shown through vim.notify, kept for the checks (and echoed to stderr).
local notes, note_levels = {}, {}
vim.notify = function(message, level)
  table.insert(notes, tostring(message))
  note_levels[tostring(message)] = level
  say(string.format('         [notify %s] %s', tostring(level or ''), tostring(message)))
end
local function noted(pattern)
  for _, n in ipairs(notes) do
    if n:find(pattern) then
      return n
    end
  end
  return nil
end

local function lens_titles(bufnr, line)
  local titles = {}
  for _, lens in ipairs(compat.lenses(bufnr)) do
    if lens.range.start.line == line and lens.command then
      table.insert(titles, lens.command.title)
    end
  end
  table.sort(titles)
  return titles
end

local function has_title(bufnr, line, match)
  for _, title in ipairs(lens_titles(bufnr, line)) do
    if title == match or title:find(match) then
      return true
    end
  end
  return false
end

local function all_lenses(bufnr)
  local out = {}
  for _, lens in ipairs(compat.lenses(bufnr)) do
    table.insert(out, string.format('%d: %s', lens.range.start.line, lens.command and lens.command.title or '?'))
  end
  table.sort(out)
  return table.concat(out, '; ')
end

local function diagnostics_text(bufnr)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out, string.format('%d:%d %s %s %s', d.lnum, d.col, tostring(d.source), tostring(d.code), d.message))
  end
  return table.concat(out, '\n')
end

local function qf_text()
  local out = {}
  for _, item in ipairs(vim.fn.getqflist()) do
    table.insert(out, string.format('%s:%d %s', vim.fn.bufname(item.bufnr), item.lnum, item.text))
  end
  return table.concat(out, '\n')
end

local function qf_find(file_suffix, lnum, text)
  for _, item in ipairs(vim.fn.getqflist()) do
    local name = vim.fn.bufname(item.bufnr)
    if name:sub(-#file_suffix) == file_suffix and (not lnum or item.lnum == lnum) and (not text or item.text:find(text, 1, true)) then
      return item
    end
  end
  return nil
end

local function open(path)
  vim.cmd('edit ' .. vim.fn.fnameescape(root .. '/' .. path))
  return vim.api.nvim_get_current_buf()
end

local function run()
  say(string.format('%s: Neovim %s, fixture %s', label, compat.version_string(), root))

  -- 1. An unresolved import is a diagnostic, as soon as the file is open.
  local broken = open('pkg/broken.py')
  if not check('the pleat client attaches to a Python buffer', wait(20000, function()
    return compat.buf_client('pleat', broken) ~= nil
  end), 'no client named pleat attached; clients: ' .. vim.inspect(vim.tbl_map(function(c)
    return c.name
  end, compat.clients('pleat')))) then
    return
  end
  local client = compat.buf_client('pleat', broken)
  if os.getenv('PLEAT_MODE') == 'enable' then
    check('the client comes from vim.lsp.enable("pleat") and lsp/pleat.lua, not setup()',
      vim.lsp.is_enabled('pleat') and type(vim.lsp.config.pleat.root_dir) == 'function'
        and not pcall(vim.api.nvim_get_autocmds, { group = 'pleat_start' }))
  end
  check('the client is rooted at the fixture (pleat.toml)', client.config.root_dir == root,
    'root_dir ' .. tostring(client.config.root_dir))
  check('the unresolved import is a diagnostic on its line', wait(30000, function()
    for _, d in ipairs(vim.diagnostic.get(broken)) do
      if d.lnum == 2 and d.source == 'pleat' and d.code == 'unresolved-import' and d.message:find('pkg.nowhere', 1, true) then
        return true
      end
    end
    return false
  end), 'diagnostics: ' .. diagnostics_text(broken))

  -- 2. The module's lenses.
  local calc = open('pkg/calc.py')
  check('module lenses: "▶ Run 2 affected tests (1 file)" and "1 dependent"', wait(20000, function()
    return has_title(calc, 0, '^▶ Run 2 affected tests %(1 file%)$') and has_title(calc, 0, '^1 dependent$')
  end), 'lenses: ' .. all_lenses(calc))

  -- 3. The test file's lenses.
  local test = open('tests/test_calc.py')
  check('test lenses: "▶ Run test" on each test function', wait(20000, function()
    return has_title(test, 3, '^▶ Run test$') and has_title(test, 7, '^▶ Run test$')
  end), 'lenses: ' .. all_lenses(test))

  -- 4. :PleatRunFile runs the file's tests; the answer and pleat/testResults both arrive.
  vim.fn.setqflist({}, 'r')
  local before = vim.deepcopy(results.received)
  vim.cmd('PleatRunFile!') -- forced: pytest really runs, even with a warm cache
  check(':PleatRunFile gets its answer', wait(LONG, function()
    return results.received.answer > before.answer
  end), 'no answer; notes: ' .. table.concat(notes, ' | '))
  check('pleat/testResults arrives and is handled', wait(20000, function()
    return results.received.notification > before.notification
  end), 'received: ' .. vim.inspect(results.received))
  check('the run is summed up: 1 passed, 1 failed', noted('✓ 1 passed, ✕ 1 failed') ~= nil, table.concat(notes, ' | '))
  check('the quickfix list has the failing test at its failing line',
    qf_find('tests/test_calc.py', 9, 'tests/test_calc.py::test_add_wrong failed') ~= nil, 'quickfix:\n' .. qf_text())
  check('the passing test is not in the quickfix list', qf_find('tests/test_calc.py', nil, '::test_add ') == nil,
    'quickfix:\n' .. qf_text())

  -- 5. The lenses show the results.
  check('result lenses: "✓ 3 ms" or "✓ 0.31 s" on the passing test, "✕ failed" on the failing one', wait(20000, function()
    return (has_title(test, 3, '^✓ [<%d]') and not has_title(test, 3, '0%.00 s')) and has_title(test, 7, '^✕ failed')
  end), 'lenses: ' .. all_lenses(test))

  -- 6. A lens runs through the plugin: "▶ Run test" on test_add (two lenses on the line: the
  -- run lens and the result lens; vim.ui.select is answered with the run lens).
  local original_select = vim.ui.select
  local offered = {}
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local title = opts.format_item and opts.format_item(item) or tostring(item)
      table.insert(offered, title)
      if title == '▶ Run test' then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  local answers = results.received.answer
  vim.lsp.codelens.run()
  check('the "▶ Run test" lens runs the test and shows the answer', wait(LONG, function()
    return results.received.answer > answers
  end), 'offered: ' .. table.concat(offered, ', ') .. '; notes: ' .. table.concat(notes, ' | '))
  -- A result lens is a status: its command is empty, which Neovim 0.10+ leaves out of the
  -- picker (0.7 lists every lens of the line).
  local status_commands = {}
  for _, lens in ipairs(compat.lenses(test)) do
    local title = lens.command and lens.command.title or ''
    if title:find('^✓') or title:find('^✕') or title:find('^○') then
      table.insert(status_commands, lens.command.command)
    end
  end
  check('result lenses carry an empty command',
    #status_commands > 0 and #vim.tbl_filter(function(c) return c ~= '' end, status_commands) == 0,
    'commands: ' .. vim.inspect(status_commands))
  if vim.fn.has('nvim-0.10') == 1 then
    local status_offered = vim.tbl_filter(function(t)
      return t:find('^✓') ~= nil or t:find('^✕') ~= nil or t:find('^○') ~= nil
    end, offered)
    check('a result lens is never offered as an action', #status_offered == 0,
      'offered: ' .. table.concat(offered, ', '))
  end
  vim.ui.select = original_select

  -- 7. :PleatResults: the last failures in the quickfix list, window open.
  vim.fn.setqflist({}, 'r')
  vim.cmd('PleatResults')
  local qf_open = false
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.bo[vim.api.nvim_win_get_buf(win)].buftype == 'quickfix' then
      qf_open = true
    end
  end
  check(':PleatResults fills the quickfix list and opens it',
    qf_open and qf_find('tests/test_calc.py', 9, 'test_add_wrong') ~= nil, 'quickfix:\n' .. qf_text())
  vim.cmd('cclose')

  -- 8. :PleatDependents lists the test that imports the module.
  open('pkg/calc.py')
  vim.fn.setqflist({}, 'r')
  vim.cmd('PleatDependents')
  check(':PleatDependents lists tests/test_calc.py', wait(20000, function()
    return qf_find('tests/test_calc.py') ~= nil
  end), 'quickfix:\n' .. qf_text())
  vim.cmd('cclose')

  -- A command the server refuses says why.
  vim.cmd('PleatRunFile')
  check(':PleatRunFile on a module says it is not a test file', wait(20000, function()
    return noted('pleat.runTests failed: pkg/calc.py is not a test file') ~= nil
  end), table.concat(notes, ' | '))

  -- 9. :PleatWhy from the module to the test finds the chain the other way round.
  vim.fn.setqflist({}, 'r')
  vim.cmd('PleatWhy ' .. vim.fn.fnameescape(root .. '/tests/test_calc.py'))
  check(':PleatWhy shows the import chain with its line', wait(20000, function()
    return qf_find('tests/test_calc.py', 1, 'imports pkg/calc.py') ~= nil
  end), 'quickfix:\n' .. qf_text() .. '\nnotes: ' .. table.concat(notes, ' | '))
  check(':PleatWhy says the chain', noted('tests/test_calc.py:1 → pkg/calc.py') ~= nil, table.concat(notes, ' | '))
  vim.cmd('cclose')

  -- 10. Saving the module runs the affected tests (onSave = lint+tests): now test_add fails at
  -- line 5 and test_add_wrong passes; the lenses and diagnostics of the test file follow.
  local notifications = results.received.notification
  -- Count the statusline redraws the plugin asks for (a headless Neovim draws nothing).
  local original_cmd, redraws = vim.cmd, 0
  vim.cmd = setmetatable({}, {
    -- Neovim 0.7's vim.cmd is a function, later ones a callable table.
    __index = type(original_cmd) == 'table' and original_cmd or nil,
    __call = function(_, command, ...)
      if type(command) == 'string' and command:find('^redrawstatus') then
        redraws = redraws + 1
      end
      return original_cmd(command, ...)
    end,
  })
  vim.api.nvim_buf_set_lines(calc, 1, 2, false, { '    return a + b + 1' })
  vim.cmd('silent write')
  check('saving the module brings a pleat/testResults', wait(LONG, function()
    return results.received.notification > notifications
  end), 'received: ' .. vim.inspect(results.received))
  check('after the save the lenses flip: "✕ failed" on test_add, "✓" on test_add_wrong', wait(20000, function()
    return has_title(test, 3, '^✕ failed') and has_title(test, 7, '^✓ ')
  end), 'lenses: ' .. all_lenses(test))
  check('the failing test is an error diagnostic on its failing line (pytest)', wait(20000, function()
    for _, d in ipairs(vim.diagnostic.get(test)) do
      if d.lnum == 4 and d.source == 'pytest' and d.severity == vim.diagnostic.severity.ERROR then
        return true
      end
    end
    return false
  end), 'diagnostics: ' .. diagnostics_text(test))

  check('pleat/status feeds require("pleat").status() for statuslines', wait(20000, function()
    return pleat.status(test):find('^Pleat: ✓ %d+ ✕ %d+') ~= nil
  end), pleat.status(test))
  check('each pleat/status redraws the statusline at once', redraws > 0, 'redraws asked: ' .. redraws)
  vim.cmd = original_cmd

  -- 11. :checkhealth pleat.
  vim.cmd('silent checkhealth pleat')
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local text = table.concat(lines, '\n')
  check(':checkhealth pleat reports the binary, its version and the client',
    text:find('pleat 0.', 1, true) ~= nil and text:find('OK', 1, true) ~= nil and text:find('client %d+, root ') ~= nil, text)
  check(':checkhealth pleat reports no error', not text:find('ERROR', 1, true), text)
  local source = os.getenv('PLEAT_EXPECT_SOURCE') or ''
  if source ~= '' then
    check(':checkhealth pleat says the binary was found through ' .. source,
      text:find('found through ' .. source, 1, true) ~= nil, text)
  end

  -- 12. :PleatExport: the virtualenv is made, its interpreter said, and a Python language
  -- server of the workspace (a stand-in called pyright: another `pleat lsp`) gets it as
  -- python.pythonPath.
  local module = open('pkg/calc.py')
  local pyright = compat.start({ name = 'pyright', cmd = client.config.cmd, root_dir = root }, module)
  check('a client called pyright starts', wait(20000, function()
    return #compat.clients('pyright') == 1
  end), tostring(pyright))
  vim.cmd('PleatExport')
  local said
  check(':PleatExport says the exported interpreter', wait(LONG, function()
    said = noted('^Pleat: exported: ')
    return said ~= nil or noted('export failed') ~= nil
  end), table.concat(notes, ' | '))
  local python = said and said:match('^Pleat: exported: (%S+)')
  check('the interpreter is dist/export/python/virtualenvs/default/<version>/bin/python and runs',
    python ~= nil and python:find(root .. '/dist/export/python/virtualenvs/default/', 1, true) == 1
      and vim.fn.executable(python) == 1, tostring(said))
  local settings = (compat.clients('pyright')[1] or { config = {} }).config.settings or {}
  check('the pyright client got python.pythonPath', settings.python and settings.python.pythonPath == python,
    vim.inspect(settings))
  check('the message names the client told', said ~= nil and said:find('python.pythonPath for pyright', 1, true) ~= nil,
    tostring(said))
end

-- A STAND-IN for nvim-dap, which cannot be installed here (no package registry this project
-- may use carries it): a module named `dap` that records the adapter and the configuration the
-- plugin gives it and then does what nvim-dap does with an adapter of type "server": connects
-- to its host and port over TCP and speaks DAP (initialize, attach with the configuration,
-- configurationDone on `initialized`), recording the events until debugpy closes the
-- connection. It checks the plugin's side and that the port is live; nvim-dap itself is not
-- tested.
local function dap_stand_in()
  local stub = { adapters = {}, configurations = {}, runs = {}, events = {}, connected = false }
  local function session(tcp, config)
    local seq, buffer = 0, ''
    local function send(command, arguments)
      seq = seq + 1
      local body = vim.fn.json_encode({ seq = seq, type = 'request', command = command, arguments = arguments })
      tcp:write(string.format('Content-Length: %d\r\n\r\n%s', #body, body))
    end
    tcp:read_start(function(_, data)
      vim.schedule(function()
        if not data then
          stub.closed = true
          return tcp:close()
        end
        buffer = buffer .. data
        while true do
          local head = buffer:find('\r\n\r\n', 1, true)
          local length = head and tonumber(buffer:sub(1, head):match('Content%-Length: (%d+)'))
          if not length or #buffer < head + 3 + length then
            break
          end
          local message = vim.fn.json_decode(buffer:sub(head + 4, head + 3 + length))
          buffer = buffer:sub(head + 4 + length)
          if message.type == 'event' then
            table.insert(stub.events, message.event)
            if message.event == 'initialized' then
              send('configurationDone', vim.empty_dict())
            end
          elseif message.type == 'response' and message.command == 'initialize' then
            send('attach', config)
          end
        end
      end)
    end)
    send('initialize', { clientID = 'nvim-dap-stand-in', adapterID = 'pleat', pathFormat = 'path',
      linesStartAt1 = true, columnsStartAt1 = true })
  end
  function stub.run(config)
    table.insert(stub.runs, config)
    stub.sandbox_had_test = vim.fn.filereadable(config.pathMappings[1].remoteRoot .. '/tests/test_calc.py') == 1
    local function connect(adapter)
      stub.adapter = adapter
      local tcp = uv.new_tcp()
      tcp:connect(adapter.host, adapter.port, function(e)
        vim.schedule(function()
          if e then
            stub.error = e
            return tcp:close()
          end
          stub.connected = true
          session(tcp, config)
        end)
      end)
    end
    local adapter = stub.adapters[config.type]
    if type(adapter) == 'function' then
      adapter(connect, config)
    else
      connect(adapter)
    end
  end
  return stub
end

--- 13. :PleatDebugTest, without nvim-dap and then with the stand-in above.
local function debug_test()
  local test = open('tests/test_calc.py')
  vim.api.nvim_win_set_cursor(0, { 9, 4 }) -- in test_add_wrong, which passes since step 10
  check('nvim-dap is not installed here', not pcall(require, 'dap'))
  vim.cmd('PleatDebugTest')
  local missing = noted(':PleatDebugTest needs nvim%-dap')
  check(':PleatDebugTest without nvim-dap says it is needed and how to install it, as an error',
    missing ~= nil and missing:find('mfussenegger/nvim-dap', 1, true) ~= nil
      and note_levels[missing] == vim.log.levels.ERROR, table.concat(notes, ' | '))
  check('no "▶ Debug test" lens without nvim-dap (the client did not declare experimental.pleatDebugTest)',
    wait(20000, function()
      return has_title(test, 3, '^▶ Run test$')
    end) and not has_title(test, 3, 'Debug test'), 'lenses: ' .. all_lenses(test))

  local stub = dap_stand_in()
  package.preload.dap = function()
    return stub
  end
  local config = pleat.lsp_config(root)
  check('with nvim-dap the client declares experimental.pleatDebugTest and handles pleat.debugTest',
    config.capabilities and config.capabilities.experimental.pleatDebugTest == true
      and type(config.commands['pleat.debugTest']) == 'function', vim.inspect(config.capabilities and config.capabilities.experimental))
  vim.cmd('PleatDebugTest')
  local id = 'tests/test_calc.py::test_add_wrong'
  check(':PleatDebugTest starts pleat and hands nvim-dap the attach configuration', wait(LONG, function()
    return #stub.runs > 0
  end), table.concat(notes, ' | '))
  local run = stub.runs[1] or {}
  local mapping = (run.pathMappings or {})[1] or {}
  check('the configuration: type pleat, request attach, the test under the cursor, pathMappings workspace → sandbox',
    run.type == 'pleat' and run.request == 'attach' and run.name == 'Pleat: ' .. id
      and mapping.localRoot == uv.fs_realpath(root) and stub.sandbox_had_test, vim.inspect(run))
  check('nvim-dap gets a "server" adapter with the port pleat printed, and debugpy listens there', wait(20000, function()
    return stub.connected or stub.error ~= nil
  end) and stub.adapter.type == 'server' and stub.adapter.port == run.port and stub.connected,
    vim.inspect({ adapter = stub.adapter, error = stub.error }))
  check('after attach and configurationDone the test runs to its end and pleat exits 0', wait(LONG, function()
    return noted('the debug run of ' .. id .. ' ended') ~= nil
  end) and noted('the debug run of ' .. id .. ' ended: exit 0') ~= nil
    and vim.tbl_contains(stub.events, 'terminated'), vim.inspect(stub.events) .. ' ' .. table.concat(notes, ' | '))
  for job in pairs(require('pleat.debug').jobs) do
    vim.fn.jobstop(job) -- only after a failed check: a finished run is gone already
  end
  package.preload.dap, package.loaded.dap = nil, nil
end

-- The help file's tags build (as plugin managers do) without duplicates.
local function help()
  local doc = vim.fn.tempname() .. '/doc'
  vim.fn.mkdir(doc, 'p')
  local source = vim.api.nvim_get_runtime_file('doc/pleat.txt', false)[1]
  vim.fn.writefile(vim.fn.readfile(source), doc .. '/pleat.txt')
  local built, message = pcall(vim.cmd, 'helptags ' .. vim.fn.fnameescape(doc))
  local tags = built and table.concat(vim.fn.readfile(doc .. '/tags'), '\n') or ''
  check(':helptags builds doc/pleat.txt', built and tags:find(':PleatWhy', 1, true) ~= nil, tostring(message))
end

local ok, err = xpcall(function()
  help()
  run()
  debug_test()
end, debug.traceback)
if not ok then
  check('the spec ran to its end', false, tostring(err))
end
check('Neovim warned of nothing deprecated', noted('deprecated') == nil, noted('deprecated'))
finish()
