import { notYet } from '../not-yet.ts';

export const main = notYet('romanad', 'issue 4');
