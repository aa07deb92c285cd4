import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPermissive, licenseOf } from '../../../scripts/corpus/licenses.ts';

test('accepts MIT, Apache-2.0, BSD and ISC, alone or as an alternative', () => {
  for (const id of ['MIT', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', '0BSD', '(MIT OR GPL-3.0)', '(BSD-2-Clause OR MIT OR Apache-2.0)', 'MIT AND ISC']) {
    assert.equal(isPermissive(id), true, id);
  }
});

test('refuses copyleft, missing, unreadable and partly permissive licenses', () => {
  for (const id of [null, '', 'GPL-3.0', 'LGPL-2.1+', 'UNLICENSED', 'SEE LICENSE IN LICENSE.txt', 'BlueOak-1.0.0', 'CC-BY-4.0', 'MIT AND GPL-2.0', 'Python-2.0']) {
    assert.equal(isPermissive(id), false, String(id));
  }
});

test('reads the license field as a string, an object, or the legacy licenses array', () => {
  assert.equal(licenseOf({ license: 'MIT' }), 'MIT');
  assert.equal(licenseOf({ license: { type: 'ISC', url: 'x' } }), 'ISC');
  assert.equal(licenseOf({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }), '(MIT OR Apache-2.0)');
  assert.equal(licenseOf({ name: 'no-license' }), null);
});
