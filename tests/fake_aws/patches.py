"""POST /_fake/patch: changes to the loaded scenario, one op or a list, each
applied in order under the state's lock. Every patch ends with
state.changed(), so the indexes see it."""
import time

import cloudtrail


def _replace(items, key, new=None):
    """items without those whose id is key, plus new when given."""
    return [x for x in items if x['id'] != key] + ([new] if new is not None else [])


def apply_patch(state, ops):
    """Applies the patch ops (a list of dicts); ValueError/KeyError/... on a
    bad op, after those before it were applied."""
    with state.lock:
        sc = state.scenario
        try:
            for p in ops:
                _apply(state, sc, p)
        finally:
            state.changed()


def _apply(state, sc, p):
    op = p['op']
    if op == 'add_account':
        a = dict(p['account'])
        sc['accounts'] = _replace(sc['accounts'], a['id'], a)
    elif op == 'remove_account':
        sc['accounts'] = _replace(sc['accounts'], p['id'])
    elif op == 'update_account':
        for x in sc['accounts']:
            if x['id'] == p['id']:
                x.update(p['set'])
    elif op == 'add_event':
        e = dict(p['event'])
        if 'EventTime' not in e and 'EventTimeAgo' not in e:
            e['EventTime'] = time.time()
        elif 'EventTimeAgo' in e:
            e['EventTime'] = time.time() - float(e.pop('EventTimeAgo'))
        cloudtrail.normalise_event(e, state.loaded_at)
        sc['cloudtrail']['events'].setdefault(p['account'], {}).setdefault(p.get('region', 'us-east-1'), []).append(e)
    elif op in ('detach_policy', 'attach_policy'):
        pol = next(x for x in sc['policies'] if x['id'] == p['policy_id'])
        tg = pol.setdefault('targets', [])
        if op == 'detach_policy':
            pol['targets'] = [t for t in tg if t != p['target_id']]
        elif p['target_id'] not in tg:
            tg.append(p['target_id'])
    elif op == 'add_policy':
        sc['policies'] = _replace(sc['policies'], p['policy']['id'], dict(p['policy']))
    elif op == 'remove_policy':
        sc['policies'] = _replace(sc['policies'], p['id'])
    elif op == 'set_option':
        sc['options'][p['name']] = p['value']
    elif op == 'set':
        # {"op":"set","path":["organization","feature_set"],"value":"ALL"}
        cur = sc
        for k in p['path'][:-1]:
            cur = cur[k]
        cur[p['path'][-1]] = p['value']
    else:
        raise ValueError('unknown patch op %r' % op)
