-- pleat.debug: debugging one test through nvim-dap. :PleatDebugTest (and the "▶ Debug test"
-- lens, which the server shows only when this client declares experimental.pleatDebugTest,
-- that is when nvim-dap is installed) starts `pleat test --debug-adapter <test>` at the
-- workspace root, waits for its "pleat: debugpy listening on HOST:PORT {json}" line and attaches
-- nvim-dap to debugpy there (an adapter of type "server") with the line's pathMappings, so
-- breakpoints set in the workspace's files stop the test running in its sandbox.

local M = {}

--- The running `pleat test --debug-adapter` jobs: job id → test.
M.jobs = {}

--- The line pleat prints once debugpy listens (its JSON: host, port, file, localRoot, remoteRoot).
M.LISTENING = '^pleat: debugpy listening on (%S+) (%{.*%})$'

local function err(message)
  require('pleat.commands').err(message)
end

--- nvim-dap, or nil.
function M.dap()
  local ok, dap = pcall(require, 'dap')
  return ok and type(dap) == 'table' and dap or nil
end

--- Client capabilities with experimental.pleatDebugTest, when nvim-dap is there (else nil:
--- the server then shows no "▶ Debug test" lens this client could not act on).
function M.capabilities()
  if not M.dap() then
    return nil
  end
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(),
    { experimental = { pleatDebugTest = true } })
end

local MISSING = ':PleatDebugTest needs nvim-dap (https://github.com/mfussenegger/nvim-dap), which is '
  .. 'not installed: add it with your plugin manager (lazy.nvim: { "mfussenegger/nvim-dap" }; packer: '
  .. 'use "mfussenegger/nvim-dap"), restart Neovim and run :PleatDebugTest again. Without it, '
  .. '`pleat test --debug tests/test_x.py` debugs with pdb in a terminal.'

--- Says that nvim-dap is needed, and how to get it.
function M.missing()
  err(MISSING)
end

--- `pleat … test --debug-adapter TEST`: the client's own command line (same binary, same
--- --cache-dir) with `lsp` replaced.
local function argv(client, root, test)
  local cmd = type(client.config.cmd) == 'table' and client.config.cmd or require('pleat').cmd(root)
  local out = {}
  for i, part in ipairs(cmd) do
    if i == #cmd and part == 'lsp' then
      break
    end
    table.insert(out, part)
  end
  vim.list_extend(out, { 'test', '--debug-adapter', test })
  return out
end

--- Starts pleat for `test` (a path or pytest node id relative to `root`) and attaches nvim-dap
--- once debugpy listens. Returns the job id (nil when nvim-dap is missing or pleat cannot start).
function M.start(client, root, test)
  local dap = M.dap()
  if not dap then
    M.missing()
    return nil
  end
  dap.adapters.pleat = function(callback, config)
    callback({ type = 'server', host = config.host, port = config.port })
  end
  local attached, said, output, pending = false, {}, {}, ''
  local function on_stderr(_, data)
    -- Job output arrives in chunks: the last item of each is an unfinished line.
    data[1] = pending .. (data[1] or '')
    pending = table.remove(data)
    for _, line in ipairs(data) do
      table.insert(said, line)
      local address, json = line:match(M.LISTENING)
      if address and not attached then
        attached = true
        local at = vim.fn.json_decode(json)
        require('pleat').notify(string.format('Pleat: debugging %s (debugpy on %s)', test, address))
        dap.run({
          type = 'pleat',
          request = 'attach',
          name = 'Pleat: ' .. test,
          host = at.host,
          port = at.port,
          pathMappings = { { localRoot = at.localRoot, remoteRoot = at.remoteRoot } },
          justMyCode = true,
        })
      end
    end
  end
  local command = argv(client, root, test)
  local job = vim.fn.jobstart(command, {
    cwd = root,
    on_stderr = on_stderr,
    on_stdout = function(_, data)
      vim.list_extend(output, data)
    end,
    on_exit = function(job_id, code)
      M.jobs[job_id] = nil
      if not attached then
        err(string.format('cannot debug %s: pleat ended (exit %d) before debugpy listened: %s', test, code,
          table.concat(vim.list_slice(said, math.max(1, #said - 4)), ' ')))
        return
      end
      local last = ''
      for i = #output, 1, -1 do
        if output[i]:find('%S') then
          last = output[i]
          break
        end
      end
      require('pleat').notify(string.format('Pleat: the debug run of %s ended: exit %d (%s)', test, code, last),
        code == 0 and vim.log.levels.INFO or vim.log.levels.WARN)
    end,
  })
  if job <= 0 then
    err(string.format('cannot start %s (jobstart said %d); check the pleat binary (:checkhealth pleat)',
      command[1], job))
    return nil
  end
  M.jobs[job] = test
  return job
end

--- The test at `line` (0-based) among a file's listed tests: the nearest one defined at or above
--- it (a method before its class, as they are listed); nil when none is.
function M.test_at(tests, line)
  local best
  for _, t in ipairs(tests) do
    local start = t.range and t.range.start and t.range.start.line
    if start and start <= line and (not best or start >= best.range.start.line) then
      best = t
    end
  end
  return best
end

--- :PleatDebugTest: the test under the cursor (the nearest test defined at or above it; the
--- whole file above the first test).
function M.debug_test(client, bufnr)
  if not M.dap() then
    M.missing()
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  require('pleat.commands').execute(client, bufnr, 'pleat.listTests', { file = vim.uri_from_bufnr(bufnr) },
    function(result)
      local file = type(result) == 'table' and type(result.files) == 'table' and result.files[1]
      if not file then
        err(vim.api.nvim_buf_get_name(bufnr) .. ' is not a test file; run :PleatDebugTest in one')
        return
      end
      local test = M.test_at(type(file.tests) == 'table' and file.tests or {}, line)
      M.start(client, client.config.root_dir, test and test.id or file.path)
    end)
end

--- The "▶ Debug test" lens's command (`{ test, file, root }`).
function M.lens(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  local argument = command.arguments and command.arguments[1] or {}
  if client and argument.test then
    M.start(client, argument.root or client.config.root_dir, argument.test)
  end
end

return M
