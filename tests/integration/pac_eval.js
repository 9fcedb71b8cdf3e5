// Evaluates a PAC file for a list of host names, the way browsers do:
// node pac_eval.js FILE.pac NAMES.txt -> "NAME RESULT" per line.
// shExpMatch and dnsDomainIs follow Mozilla's pac_utils.js definitions.
'use strict';
const fs = require('fs');
const vm = require('vm');

function shExpMatch(url, pattern) {
	const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
	return new RegExp('^' + re + '$').test(url);
}
function dnsDomainIs(host, domain) {
	return host.length >= domain.length && host.substring(host.length - domain.length) == domain;
}
const sandbox = { shExpMatch, dnsDomainIs };
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[2], 'utf8'), sandbox);
const names = fs.readFileSync(process.argv[3], 'utf8').split('\n').filter((n) => n);
for (const n of names)
	console.log(n + ' ' + sandbox.FindProxyForURL('https://' + n + '/', n));
