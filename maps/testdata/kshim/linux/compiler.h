/* stand-in: empty */
