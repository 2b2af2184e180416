#!/usr/bin/env node
// npm run build:gyp: the node-gyp build of the addon. Node's own headers are used when the running Node ships them
// (official tarballs and distribution packages do: <prefix>/include/node), so no headers are downloaded.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const prefix = path.dirname(path.dirname(process.execPath));
const args = [require.resolve('node-gyp/bin/node-gyp.js'), 'rebuild'];
if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const build = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
process.exit(build.status === null ? 1 : build.status);
